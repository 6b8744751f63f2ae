// What each command from the server changes: one handler per command, called with the Client as
// `this`. They change the Network and emit events for the view; none touches the DOM.

import {
  formatLine,
  isChannel,
  nickOf,
  parseCaps,
  parseIsupport,
  parsePrefix,
  saslPlainChunks,
  splitNamesEntry,
} from "./irc.js";
import { messageTime } from "./text.js";

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

/** How long someone shows as typing after their last notification (ms), as the spec suggests. */
export const TYPING_TIMEOUT = 6000;

function capsDone() {
  this.sendRaw("CAP END");
}

/** What each command from the server does to the Client (`this`); numerics share `numeric`. */
export const HANDLERS = {
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
      if (this.password && !("sasl" in this.offered)) {
        // Going on as a guest would hide that the password was not used.
        this.stopped = true;
        this.emit("loginFailed", { reason: "This server does not offer account login; leave the password empty." });
        this.ws?.close();
        return;
      }
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
      for (const chunk of saslPlainChunks(this.account, this.password)) this.sendRaw(`AUTHENTICATE ${chunk}`);
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
          if (this.chosen.is(m.params[1] || "")) this.nickTaken = text; // said once registered
          this.nick = nextNick(this.nick);
          this.sendRaw(formatLine("NICK", [this.nick]));
        } else if (!this.chosen.refused(m.params[1] || "", code)) {
          this.problem(`${m.params[1]}: ${text}`);
        }
        return;
      case "731":
        this.chosen.offline(text);
        return;
      case "734":
        this.chosen.monitorRefused();
        return;
      case "730":
      case "732":
      case "733":
        return; // MONITOR: the chosen nick is still online, or the list
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
    if (me) {
      this.nick = newNick;
      this.chosen.changed(newNick);
    }
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

  INVITE(m) {
    const [invited, channel] = m.params;
    if (!channel || !this.isMe(invited)) return; // invite-notify of others: not worth a line
    this.info(this.network.current, `${nickOf(m.source)} invites you to ${channel}: type /join ${channel}`);
  },

  CHATHISTORY(m) {
    // A line of a draft/chathistory-targets batch: a conversation with recent messages.
    const [sub, target] = m.params;
    if (sub !== "TARGETS" || !target || isChannel(target, this.chantypes) || this.isMe(target)) return;
    if (target.includes(".") || target.includes("*")) return; // a server or service mask
    if (!this.network.get(target)) {
      this.network.ensure(target, "dm");
      this.emit("buffers");
    }
  },

  FAIL(m) {
    const [command, code] = m.params;
    const text = m.params[m.params.length - 1] || code;
    if (command === "CHATHISTORY") {
      if (m.params.includes("TARGETS")) return; // the conversation list is a nicety
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
