// The connection to the server: IRC over a WebSocket (subprotocol text.ircv3.net, one line per
// message), capability negotiation, SASL PLAIN, history (CHATHISTORY), and reconnecting by
// itself with the gap filled. It changes the Network (state.js) and tells the view to redraw.

import { HANDLERS } from "./handlers.js";
import { actionText, casefold, formatLine, isChannel, nickOf, parseLine } from "./irc.js";
import { ChosenNick } from "./nick.js";
import { Network } from "./state.js";
import { mentions, messageTime, splitMessage } from "./text.js";

export { nextNick, TYPING_TIMEOUT, WANTED_CAPS } from "./handlers.js";

/** Messages fetched by one history request (on join, scrolling up, after a reconnect). */
export const HISTORY_PAGE = 50;
/** Most messages fetched to fill the gap after a reconnect before saying some may be missing. */
export const GAP_LIMIT = 200;
/** Seconds between reconnect attempts: doubling from the first to the last. */
export const RECONNECT_DELAYS = [1, 2, 4, 8, 15, 30];

/** The longest IRC line without its tags, CR and LF (bytes). */
export const MAX_LINE_BYTES = 510;

/** How far back the list of direct conversations reaches on login (days). */
export const TARGETS_DAYS = 30;

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
    this.account = login.nick; // the login name: SASL's account and the USER name
    this.wantedNick = login.nick; // the nick the user chose (at login or with /nick since)
    this.chosen = new ChosenNick(this);
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
    this.statusText = "";
    this.nickTaken = ""; // why the chosen nick was refused at registration
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
      // The chosen nick, even if the last connection had to make do with another.
      this.nick = this.wantedNick;
      this.sendRaw("CAP LS 302");
      this.sendRaw(formatLine("NICK", [this.nick]));
      this.sendRaw(formatLine("USER", [this.account.slice(0, 18) || "web", "0", "*", "hubbub web client"]));
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
      this.chosen.stop();
      for (const buffer of this.network.buffers.values()) {
        buffer.joined = false;
        buffer.loadingHistory = false;
        buffer.typing.clear();
      }
      if (this.stopped) return;
      // The ERROR line before the close says why (server full, banned...): show that.
      this.scheduleReconnect(event.reason || this.statusText || "");
    };
  }

  /** Close the connection and stay disconnected. */
  quit(reason = "") {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.chosen.stop();
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
    const tags = replyTo ? { "+draft/reply": replyTo } : null;
    // Room for the source (nick!user@host) the server puts in front when it relays the line.
    const room = MAX_LINE_BYTES - new TextEncoder().encode(`:${this.nick}!~${this.nick}@${"x".repeat(63)} PRIVMSG ${target} :`).length;
    const pieces = [];
    for (const line of text.split(/\r?\n/)) {
      if (line.trim()) pieces.push(...splitMessage(line, room - (action ? 9 : 0)));
    }
    for (const piece of pieces) this.send("PRIVMSG", [target, action ? `\x01ACTION ${piece}\x01` : piece], tags);
    this.lastTypingSent = 0;
    if (!this.caps.has("echo-message")) {
      for (const piece of pieces) {
        this.addMessage(this.bufferFor(target, this.nick), {
          kind: action ? "action" : "privmsg",
          nick: this.nick,
          text: piece,
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
    // First time: the channels of last visit (or #general); after a reconnect: those we were in.
    const names = reconnecting ? [] : [...this.autojoin];
    const channels = new Set(names.map((c) => this.network.key(c)));
    for (const buffer of this.network.buffers.values()) {
      if (buffer.kind === "channel" && buffer.wanted !== false && !channels.has(this.network.key(buffer.name))) {
        names.push(buffer.name);
      }
    }
    if (names.length) this.send("JOIN", [names.join(",")]);
    if (this.caps.has("draft/chathistory") && this.caps.has("batch")) {
      // The conversations of the last weeks, so the list shows them before anyone speaks.
      const now = Date.now();
      const since = new Date(now - TARGETS_DAYS * 86400_000).toISOString();
      const until = new Date(now + 86400_000).toISOString();
      const limit = Math.min(100, Number(this.isupport.CHATHISTORY) || 100);
      this.send("CHATHISTORY", ["TARGETS", `timestamp=${until}`, `timestamp=${since}`, String(limit)]);
    }
    if (reconnecting) {
      for (const buffer of this.network.buffers.values()) {
        if (buffer.kind === "dm") this.catchUp(buffer);
      }
      if (this.away && this.awayText) this.setAway(this.awayText);
    }
    if (!this.isMe(this.wantedNick)) {
      this.info(
        this.network.current || this.network.server,
        `${this.wantedNick} is taken (${this.nickTaken || "in use"}); you are ${this.nick} until it is free.`,
      );
    }
    this.chosen.registered();
    this.emit("status");
    this.emit("registered", { reconnecting });
  }
}
