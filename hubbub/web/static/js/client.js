// The connection to the server: IRC over a WebSocket (subprotocol text.ircv3.net, one line per
// message), capability negotiation, SASL PLAIN, history (CHATHISTORY), and reconnecting by
// itself with the gap filled. It changes the Network (state.js) and tells the view to redraw.

import {
  actionText,
  casefold,
  formatLine,
  isChannel,
  nickOf,
  parseCaps,
  parseIsupport,
  parseLine,
  parsePrefix,
  saslPlainChunks,
  splitNamesEntry,
} from "./irc.js";
import { Network } from "./state.js";
import { mentions, messageTime } from "./text.js";

/** The capabilities the client asks for when the server offers them. */
export const WANTED_CAPS = [
  "message-tags",
  "server-time",
  "echo-message",
  "batch",
  "draft/chathistory",
  "away-notify",
  "multi-prefix",
  "sasl",
];

/** Messages fetched by one history request (on join, scrolling up, after a reconnect). */
export const HISTORY_PAGE = 50;
/** Most messages fetched to fill the gap after a reconnect before saying some may be missing. */
export const GAP_LIMIT = 200;
/** Seconds between reconnect attempts: doubling from the first to the last. */
export const RECONNECT_DELAYS = [1, 2, 4, 8, 15, 30];
/** How long someone shows as typing after their last notification (ms), as the spec suggests. */
export const TYPING_TIMEOUT = 6000;

const PREFIX_MODES_DEFAULT = { modes: "ov", symbols: "@+" };

/** The URL of the server's WebSocket for a page served at `location`. */
export function websocketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/irc`;
}

export class Client {
  /**
   * @param {string} url the WebSocket URL
   * @param {{nick: string, password?: string, channels?: string[]}} login
   */
  constructor(url, login) {
    this.url = url;
    this.wantedNick = login.nick;
    this.password = login.password || "";
    this.autojoin = login.channels && login.channels.length ? [...login.channels] : ["#general"];
    this.network = new Network();
    this.nick = login.nick;
    this.status = "connecting"; // connecting | connected | reconnecting | failed
    this.statusText = "";
    this.caps = new Set();
    this.isupport = {};
    this.prefix = PREFIX_MODES_DEFAULT;
    this.away = false;
    this.ws = null;
    this.registered = false;
    this.everRegistered = false;
    this.attempt = 0;
    this.stopped = false;
    this.batches = new Map();
    this.historyRequests = []; // {key, kind, limit}, in the order sent: replies come in that order
    this.listeners = new Set();
    this.lastTypingSent = 0;
    this.reconnectTimer = null;
    this.onOnline = () => {
      if (this.status === "reconnecting" && !this.ws) this.reconnectNow();
    };
    globalThis.addEventListener?.("online", this.onOnline);
  }

  /** Call `fn(event)` on every change; event is {type, ...}. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(type, detail = {}) {
    for (const fn of this.listeners) fn({ type, ...detail });
  }

  get chantypes() {
    return this.isupport.CHANTYPES || "#&";
  }

  isMe(nick) {
    return casefold(nick, this.network.casemapping) === casefold(this.nick, this.network.casemapping);
  }

  // connection ---------------------------------------------------------------------------

  /** Open the WebSocket and register. */
  connect() {
    this.stopped = false;
    this.registered = false;
    this.caps = new Set();
    this.batches.clear();
    this.historyRequests = [];
    this.status = this.everRegistered ? "reconnecting" : "connecting";
    this.emit("status");
    let ws;
    try {
      ws = new WebSocket(this.url, ["text.ircv3.net"]);
    } catch (err) {
      this.scheduleReconnect(String(err));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.sendRaw("CAP LS 302");
      this.sendRaw(formatLine("NICK", [this.nick]));
      this.sendRaw(formatLine("USER", [this.wantedNick.slice(0, 18) || "web", "0", "*", "hubbub web client"]));
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") return; // the subprotocol sends text frames only
      for (const line of event.data.split(/\r?\n/)) {
        if (!line) continue;
        const message = parseLine(line);
        if (!message) continue;
        try {
          this.handle(message);
        } catch (err) {
          console.error("hubbub: could not handle a message", err);
        }
      }
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const buffer of this.network.buffers.values()) {
        buffer.joined = false;
        buffer.loadingHistory = false;
        buffer.typing.clear();
      }
      if (this.stopped) return;
      this.scheduleReconnect(event.reason || "");
    };
  }

  /** Close the connection and stay disconnected. */
  quit(reason = "") {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.sendRaw(formatLine("QUIT", [reason || "Leaving"]));
    this.ws?.close();
    this.ws = null;
    this.status = "failed";
    this.emit("status");
  }

  scheduleReconnect(reason) {
    if (this.stopped) return;
    this.status = this.everRegistered ? "reconnecting" : "failed";
    this.statusText = reason;
    if (!this.everRegistered) {
      // Never got in: the address or the login is wrong, retrying would not help by itself.
      this.emit("status");
      this.emit("loginFailed", { reason: reason || "Could not connect to the server." });
      return;
    }
    this.emit("status");
    clearTimeout(this.reconnectTimer);
    if (globalThis.navigator && navigator.onLine === false) return; // "online" reconnects
    const delay = RECONNECT_DELAYS[Math.min(this.attempt, RECONNECT_DELAYS.length - 1)];
    this.attempt++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay * 1000);
  }

  /** Try again now (the network came back, or the user asked). */
  reconnectNow() {
    clearTimeout(this.reconnectTimer);
    if (this.ws) return;
    this.connect();
  }

  sendRaw(line) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(line);
  }

  send(command, params, tags = null) {
    this.sendRaw(formatLine(command, params, this.caps.has("message-tags") ? tags : null));
  }

  // what the user does -------------------------------------------------------------------

  /** Send a message (or `/me` action) to a channel or nick. */
  say(target, text, { action = false, replyTo = null } = {}) {
    const body = action ? `\x01ACTION ${text}\x01` : text;
    const tags = replyTo ? { "+draft/reply": replyTo } : null;
    const lines = body.split(/\r?\n/).filter((l) => l.length);
    for (const line of lines) this.send("PRIVMSG", [target, line], tags);
    this.lastTypingSent = 0;
    if (!this.caps.has("echo-message")) {
      for (const line of lines) {
        this.addMessage(this.bufferFor(target, this.nick), {
          kind: action ? "action" : "privmsg",
          nick: this.nick,
          text: action ? text : line,
          time: new Date(),
          self: true,
          replyTo,
        });
      }
    }
  }

  /** Tell the others in `target` that we are typing (at most every 3 s, as the spec asks). */
  typing(target, state = "active") {
    if (!this.caps.has("message-tags") || !this.registered) return;
    const now = Date.now();
    if (state === "active" && now - this.lastTypingSent < 3000) return;
    this.lastTypingSent = state === "active" ? now : 0;
    this.sendRaw(formatLine("TAGMSG", [target], { "+typing": state }));
  }

  join(channel, key = "") {
    this.send("JOIN", key ? [channel, key] : [channel]);
  }

  part(channel, reason = "") {
    this.send("PART", reason ? [channel, reason] : [channel]);
  }

  setNick(nick) {
    this.send("NICK", [nick]);
  }

  setTopic(channel, text) {
    this.send("TOPIC", [channel, text]);
  }

  setAway(text) {
    this.send("AWAY", text ? [text] : []);
  }

  /** Open (or show) a conversation with `nick`, fetching its history the first time. */
  openConversation(nick) {
    const existed = this.network.get(nick);
    const buffer = this.network.ensure(nick, "dm");
    if (!existed) this.requestHistory(buffer, "latest");
    this.emit("buffers");
    return buffer;
  }

  /** Fetch older messages of `buffer` (the user scrolled to the top). */
  loadOlder(buffer) {
    if (buffer.historyDone || buffer.loadingHistory || buffer.kind === "server") return;
    if (!this.caps.has("draft/chathistory") || !this.registered) return;
    const first = buffer.firstMsgid();
    this.requestHistory(buffer, first ? "before" : "latest");
  }

  requestHistory(buffer, kind) {
    if (!this.caps.has("draft/chathistory") || !this.caps.has("batch")) return;
    const max = Number(this.isupport.CHATHISTORY) || 100;
    let params;
    let limit = Math.min(HISTORY_PAGE, max);
    if (kind === "before") {
      params = ["BEFORE", buffer.name, `msgid=${buffer.firstMsgid()}`, String(limit)];
    } else if (kind === "after") {
      limit = Math.min(GAP_LIMIT, max);
      params = ["AFTER", buffer.name, `msgid=${buffer.lastMsgid()}`, String(limit)];
    } else {
      params = ["LATEST", buffer.name, "*", String(limit)];
    }
    buffer.loadingHistory = true;
    this.historyRequests.push({ key: this.network.key(buffer.name), kind, limit });
    this.send("CHATHISTORY", params);
    this.emit("history", { buffer });
  }

  // what the server says -----------------------------------------------------------------

  handle(m) {
    const batchRef = m.tags.batch;
    if (batchRef && this.batches.has(batchRef) && m.command !== "BATCH") {
      const batch = this.batches.get(batchRef);
      if (batch.type === "chathistory") {
        batch.messages.push(m);
        return;
      }
    }
    const handler = HANDLERS[m.command] || (/^\d{3}$/.test(m.command) ? HANDLERS.numeric : null);
    if (handler) handler.call(this, m);
  }

  /** The buffer a PRIVMSG/NOTICE/TAGMSG from `sender` to `target` belongs in. */
  bufferFor(target, sender) {
    let t = target;
    if (t.length > 1 && "@+~&%".includes(t[0]) && isChannel(t.slice(1), this.chantypes)) t = t.slice(1);
    if (isChannel(t, this.chantypes)) return this.network.ensure(t, "channel");
    if (!sender || sender.includes(".") && !sender.includes("!")) return this.network.server;
    const other = this.isMe(nickOf(sender)) ? t : nickOf(sender);
    return this.network.ensure(other, "dm");
  }

  /** Add a message to a buffer; count it unread (and notify) when it is live and not seen. */
  addMessage(buffer, message, { live = true, older = false } = {}) {
    if (!buffer.add(message, { older })) return false;
    if (live && !message.self && ["privmsg", "action", "notice"].includes(message.kind)) {
      const seen = buffer === this.network.current && !globalThis.document?.hidden;
      const important = buffer.kind === "dm" || mentions(message.text, this.nick);
      message.mention = important && buffer.kind !== "dm";
      if (!seen) {
        buffer.unread++;
        if (important) buffer.mentions++;
      }
      if (important && globalThis.document?.hidden) this.emit("notify", { buffer, message });
    } else if (!message.self && ["privmsg", "action", "notice"].includes(message.kind)) {
      message.mention = buffer.kind !== "dm" && mentions(message.text, this.nick);
    }
    this.emit("message", { buffer, message });
    return true;
  }

  /** Turn a PRIVMSG/NOTICE into a message for the view. */
  chatMessage(m) {
    const text = m.params[1] ?? "";
    const action = m.command === "PRIVMSG" ? actionText(text) : null;
    if (action === null && text.startsWith("\x01")) return null; // other CTCP: not for reading
    const nick = nickOf(m.source);
    return {
      kind: action !== null ? "action" : m.command === "NOTICE" ? "notice" : "privmsg",
      nick,
      text: action !== null ? action : text,
      time: messageTime(m.tags),
      msgid: m.tags.msgid || null,
      replyTo: m.tags["+draft/reply"] || m.tags["+reply"] || null,
      self: this.isMe(nick),
    };
  }

  info(buffer, text, kind = "info") {
    this.addMessage(buffer || this.network.server, { kind, text, time: new Date() }, { live: false });
  }

  /** A line for the user about something that went wrong, in the buffer it is about. */
  problem(text, about = null) {
    const buffer = (about && this.network.get(about)) || this.network.current || this.network.server;
    this.info(buffer, text, "error");
  }

  finishHistory(batch) {
    const key = this.network.key(batch.target);
    const i = this.historyRequests.findIndex((r) => r.key === key);
    const request = i >= 0 ? this.historyRequests.splice(i, 1)[0] : { kind: "latest", limit: HISTORY_PAGE };
    const buffer =
      this.network.get(batch.target) ||
      this.network.ensure(batch.target, isChannel(batch.target, this.chantypes) ? "channel" : "dm");
    buffer.loadingHistory = this.historyRequests.some((r) => r.key === key);
    let count = 0;
    const older = request.kind === "before";
    for (const m of batch.messages) {
      if (m.command !== "PRIVMSG" && m.command !== "NOTICE") continue;
      count++;
      const message = this.chatMessage(m);
      if (message) this.addMessage(buffer, message, { live: request.kind === "after", older });
    }
    buffer.endOlder();
    if (request.kind === "before" || request.kind === "latest") {
      if (count < request.limit) buffer.historyDone = true;
    }
    if (request.kind === "after" && count >= request.limit) {
      this.gap(buffer);
    }
    this.emit("history", { buffer, prepended: request.kind === "before" });
  }

  /** Say that messages may be missing here, and fetch the latest ones. */
  gap(buffer) {
    this.info(buffer, "Some messages may be missing here (the connection was lost).", "gap");
    this.requestHistory(buffer, "latest");
  }

  /** After joining (or rejoining) a channel: fetch the latest history, or what was missed. */
  catchUp(buffer) {
    if (buffer.lastMsgid()) this.requestHistory(buffer, "after");
    else this.requestHistory(buffer, "latest");
  }

  onRegistered() {
    this.registered = true;
    const reconnecting = this.everRegistered;
    this.everRegistered = true;
    this.attempt = 0;
    this.status = "connected";
    this.statusText = "";
    const channels = new Set(this.autojoin.map((c) => this.network.key(c)));
    const names = [...this.autojoin];
    for (const buffer of this.network.buffers.values()) {
      if (buffer.kind === "channel" && buffer.wanted !== false && !channels.has(this.network.key(buffer.name))) {
        names.push(buffer.name);
      }
    }
    if (names.length) this.send("JOIN", [names.join(",")]);
    if (reconnecting) {
      for (const buffer of this.network.buffers.values()) {
        if (buffer.kind === "dm") this.catchUp(buffer);
      }
      if (this.away && this.awayText) this.setAway(this.awayText);
    }
    this.emit("status");
    this.emit("registered", { reconnecting });
  }
}

function capsDone() {
  this.sendRaw("CAP END");
}

const HANDLERS = {
  PING(m) {
    this.sendRaw(formatLine("PONG", m.params.length ? [m.params[m.params.length - 1]] : []));
  },

  CAP(m) {
    const sub = (m.params[1] || "").toUpperCase();
    if (sub === "LS") {
      const more = m.params[2] === "*";
      const list = more ? m.params[3] : m.params[2];
      this.offered = { ...(this.offered || {}), ...parseCaps(list || "") };
      if (more) return;
      const wanted = WANTED_CAPS.filter((c) => c in this.offered && (c !== "sasl" || this.password));
      this.offered = null;
      if (wanted.length) this.sendRaw(formatLine("CAP", ["REQ", wanted.join(" ")]));
      else capsDone.call(this);
    } else if (sub === "ACK") {
      const acked = (m.params[2] || "").split(" ").filter(Boolean);
      for (const c of acked) {
        if (c.startsWith("-")) this.caps.delete(c.slice(1));
        else this.caps.add(c);
      }
      if (!this.registered) {
        if (this.caps.has("sasl") && this.password) this.sendRaw("AUTHENTICATE PLAIN");
        else capsDone.call(this);
      }
    } else if (sub === "NAK") {
      if (!this.registered) capsDone.call(this);
    } else if (sub === "DEL") {
      for (const c of (m.params[2] || "").split(" ")) this.caps.delete(c);
    }
  },

  AUTHENTICATE(m) {
    if (m.params[0] === "+") {
      for (const chunk of saslPlainChunks(this.wantedNick, this.password)) this.sendRaw(`AUTHENTICATE ${chunk}`);
    }
  },

  numeric(m) {
    const code = m.command;
    const text = m.params[m.params.length - 1] || "";
    const about = m.params.length > 2 ? m.params[1] : null;
    switch (code) {
      case "001":
        this.nick = m.params[0];
        this.onRegistered();
        return;
      case "005":
        parseIsupport(m.params.slice(1, -1), this.isupport);
        this.prefix = parsePrefix(this.isupport.PREFIX);
        this.network.casemapping = this.isupport.CASEMAPPING === "rfc1459" ? "rfc1459" : "ascii";
        return;
      case "900":
      case "903":
        if (code === "903" && !this.registered) capsDone.call(this);
        return;
      case "902":
      case "904":
      case "905":
      case "906":
      case "908":
        if (!this.registered) {
          this.stopped = true;
          this.emit("loginFailed", { reason: code === "904" ? `Login failed: ${text}` : text });
          this.ws?.close();
        }
        return;
      case "433":
      case "432":
      case "436":
        if (!this.registered) {
          if (code === "432") {
            this.stopped = true;
            this.emit("loginFailed", { reason: `${m.params[1]}: ${text}` });
            this.ws?.close();
            return;
          }
          this.nick = nextNick(this.nick);
          this.sendRaw(formatLine("NICK", [this.nick]));
        } else {
          this.problem(`${m.params[1]}: ${text}`);
        }
        return;
      case "331":
      case "332": {
        const buffer = this.network.get(m.params[1]);
        if (buffer) {
          buffer.topic = code === "332" ? text : "";
          this.emit("topic", { buffer });
        }
        return;
      }
      case "353": {
        const buffer = this.network.get(m.params[2]);
        if (!buffer) return;
        if (!buffer.namesInProgress) {
          buffer.members.clear();
          buffer.namesInProgress = true;
        }
        for (const entry of text.split(" ").filter(Boolean)) {
          const { prefixes, nick } = splitNamesEntry(entry, this.prefix.symbols);
          buffer.setMember(nick, prefixes, undefined, this.network.casemapping);
        }
        return;
      }
      case "366": {
        const buffer = this.network.get(m.params[1]);
        if (buffer) {
          buffer.namesInProgress = false;
          this.emit("members", { buffer });
        }
        return;
      }
      case "352": {
        // WHO: flags H (here) or G (gone) tell who is away when we join.
        const buffer = this.network.get(m.params[1]);
        const member = buffer && buffer.members.get(this.network.key(m.params[5]));
        if (member) {
          member.away = (m.params[6] || "").startsWith("G");
          this.emit("members", { buffer });
        }
        return;
      }
      case "305":
      case "306":
        this.away = code === "306";
        this.emit("away");
        this.info(this.network.current, text);
        return;
      case "315":
      case "333":
      case "329":
      case "324":
      case "002":
      case "003":
      case "004":
      case "251":
      case "252":
      case "253":
      case "254":
      case "255":
      case "265":
      case "266":
      case "375":
      case "376":
        return;
      case "372":
      case "422":
        this.info(this.network.server, text.replace(/^- ?/, ""));
        return;
      case "301":
        this.info(this.network.get(m.params[1]) || this.network.current, `${m.params[1]} is away: ${text}`);
        return;
      default:
        if (code >= "400" && code < "600") {
          this.problem(about && !text.startsWith(about) ? `${about}: ${text}` : text, about);
        } else if (!this.registered || code < "400") {
          this.info(this.network.server, text);
        }
    }
  },

  JOIN(m) {
    const channel = m.params[0];
    const nick = nickOf(m.source);
    const buffer = this.network.ensure(channel, "channel");
    if (this.isMe(nick)) {
      buffer.joined = true;
      buffer.wanted = true;
      buffer.members.clear();
      buffer.historyDone = false;
      if (!this.network.current || this.network.current === this.network.server) this.network.current = buffer;
      this.catchUp(buffer);
      this.send("WHO", [channel]);
      this.emit("joined", { buffer });
      this.emit("buffers");
    } else {
      buffer.setMember(nick, "", false, this.network.casemapping);
      this.addMessage(buffer, { kind: "join", nick, time: messageTime(m.tags), msgid: m.tags.msgid }, { live: false });
      this.emit("members", { buffer });
    }
  },

  PART(m) {
    const buffer = this.network.get(m.params[0]);
    if (!buffer) return;
    const nick = nickOf(m.source);
    if (this.isMe(nick)) {
      buffer.joined = false;
      buffer.wanted = false;
      this.network.remove(buffer.name);
      if (this.network.current === buffer) this.network.current = this.network.list()[0] || this.network.server;
      this.emit("parted", { buffer });
      this.emit("buffers");
      return;
    }
    buffer.members.delete(this.network.key(nick));
    this.addMessage(buffer, { kind: "part", nick, time: messageTime(m.tags), msgid: m.tags.msgid }, { live: false });
    this.emit("members", { buffer });
  },

  KICK(m) {
    const buffer = this.network.get(m.params[0]);
    if (!buffer) return;
    const kicked = m.params[1];
    const reason = m.params[2] || "";
    buffer.members.delete(this.network.key(kicked));
    const who = nickOf(m.source);
    if (this.isMe(kicked)) {
      buffer.joined = false;
      buffer.wanted = false;
      buffer.members.clear();
    }
    this.info(buffer, `${kicked} was removed by ${who}${reason ? `: ${reason}` : ""}`);
    this.emit("members", { buffer });
    this.emit("buffers");
  },

  QUIT(m) {
    const nick = nickOf(m.source);
    const key = this.network.key(nick);
    for (const buffer of this.network.buffers.values()) {
      if (buffer.members.delete(key)) {
        this.addMessage(buffer, { kind: "quit", nick, time: messageTime(m.tags) }, { live: false });
        this.emit("members", { buffer });
      }
    }
  },

  NICK(m) {
    const oldNick = nickOf(m.source);
    const newNick = m.params[0];
    const me = this.isMe(oldNick);
    if (me) this.nick = newNick;
    for (const buffer of this.network.renameNick(oldNick, newNick)) {
      this.info(buffer, me ? `You are now known as ${newNick}` : `${oldNick} is now known as ${newNick}`);
      this.emit("members", { buffer });
    }
    if (me) this.emit("nick");
    this.emit("buffers");
  },

  TOPIC(m) {
    const buffer = this.network.get(m.params[0]);
    if (!buffer) return;
    buffer.topic = m.params[1] || "";
    this.info(buffer, `${nickOf(m.source)} set the topic: ${buffer.topic}`);
    this.emit("topic", { buffer });
  },

  MODE(m) {
    const target = m.params[0];
    const buffer = isChannel(target, this.chantypes) && this.network.get(target);
    if (!buffer) return;
    // Only prefix modes (op, voice) change what the member list shows.
    let adding = true;
    let arg = 2;
    const chanmodes = (this.isupport.CHANMODES || "beI,k,l,imnst").split(",");
    for (const c of m.params[1] || "") {
      if (c === "+" || c === "-") {
        adding = c === "+";
        continue;
      }
      const p = this.prefix.modes.indexOf(c);
      if (p >= 0) {
        const nick = m.params[arg++];
        const member = nick && buffer.members.get(this.network.key(nick));
        if (member) {
          const symbol = this.prefix.symbols[p];
          let prefixes = member.prefixes.replace(symbol, "");
          if (adding) prefixes += symbol;
          member.prefixes = [...prefixes].sort((a, b) => this.prefix.symbols.indexOf(a) - this.prefix.symbols.indexOf(b)).join("");
        }
      } else if (chanmodes[0]?.includes(c) || chanmodes[1]?.includes(c) || (adding && chanmodes[2]?.includes(c))) {
        arg++;
      }
    }
    this.info(buffer, `${nickOf(m.source)} set mode ${m.params.slice(1).join(" ")}`);
    this.emit("members", { buffer });
  },

  AWAY(m) {
    const key = this.network.key(nickOf(m.source));
    for (const buffer of this.network.buffers.values()) {
      const member = buffer.members.get(key);
      if (member) {
        member.away = m.params.length > 0;
        this.emit("members", { buffer });
      }
    }
  },

  PRIVMSG(m) {
    const message = this.chatMessage(m);
    if (!message) return;
    const buffer = this.bufferFor(m.params[0], m.source);
    buffer.typing.delete(message.nick);
    this.addMessage(buffer, message);
    this.emit("buffers");
  },

  NOTICE(m) {
    if (!m.source || (!m.source.includes("!") && !this.registered)) {
      this.info(this.network.server, m.params[1] || "");
      return;
    }
    HANDLERS.PRIVMSG.call(this, m);
  },

  TAGMSG(m) {
    const state = m.tags["+typing"] || m.tags["+draft/typing"];
    if (!state) return;
    const nick = nickOf(m.source);
    if (this.isMe(nick)) return;
    const buffer = this.bufferFor(m.params[0], m.source);
    if (state === "active" || state === "paused") buffer.typing.set(nick, Date.now() + TYPING_TIMEOUT);
    else buffer.typing.delete(nick);
    this.emit("typing", { buffer });
  },

  BATCH(m) {
    const ref = m.params[0] || "";
    if (ref.startsWith("+")) {
      this.batches.set(ref.slice(1), { type: m.params[1], target: m.params[2], messages: [] });
    } else if (ref.startsWith("-")) {
      const batch = this.batches.get(ref.slice(1));
      this.batches.delete(ref.slice(1));
      if (batch && batch.type === "chathistory" && batch.target) this.finishHistory(batch);
    }
  },

  FAIL(m) {
    const [command, code] = m.params;
    const text = m.params[m.params.length - 1] || code;
    if (command === "CHATHISTORY") {
      // Which request failed: the oldest one still waiting (replies come in order).
      const request = this.historyRequests.shift();
      const buffer = request && this.network.buffers.get(request.key);
      if (!buffer) return;
      buffer.loadingHistory = this.historyRequests.some((r) => r.key === request.key);
      if (request.kind === "after") this.gap(buffer);
      else buffer.historyDone = true;
      this.emit("history", { buffer });
      return;
    }
    if (command === "TAGMSG") return; // typing notifications are best effort
    this.problem(text);
  },

  ERROR(m) {
    this.statusText = m.params[0] || "";
    this.info(this.network.server, `Disconnected: ${this.statusText}`, "error");
  },
};

/** The next nick to try when ours is taken: "alice" → "alice_", then a number. */
export function nextNick(nick) {
  if (nick.length < 16) return nick + "_";
  return nick.slice(0, 12) + Math.floor(Math.random() * 1000);
}
