// The client's picture of the network: one buffer per channel or conversation, each with its
// messages (ordered by server time, one copy per msgid), unread and mention counts, topic and
// members. No DOM and no socket: the view reads it, the connection changes it.

import { casefold } from "./irc.js";

/** Most messages a buffer keeps in memory; older ones can be fetched again from history. */
export const MAX_MESSAGES = 2000;

let nextLocalId = 1;

/** One channel, conversation or the server buffer. */
export class Buffer {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind; // "channel" | "dm" | "server"
    this.messages = [];
    this.msgids = new Set();
    this.unread = 0;
    this.mentions = 0;
    this.topic = "";
    this.members = new Map(); // folded nick → {nick, prefixes, away}
    this.joined = false;
    this.historyDone = false; // no older history on the server
    this.loadingHistory = false;
    this.typing = new Map(); // nick → expiry (ms since epoch)
  }

  /** The newest message that has a msgid (where a reconnect resumes), or null. */
  lastMsgid() {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      if (this.messages[i].msgid) return this.messages[i].msgid;
    }
    return null;
  }

  /** The oldest message that has a msgid (where scrolling up continues), or null. */
  firstMsgid() {
    for (const m of this.messages) if (m.msgid) return m.msgid;
    return null;
  }

  /**
   * Add a message, keeping time order (after those of the same time); a msgid already held is
   * ignored. With `older`, the message goes before the oldest message that has a msgid: pages
   * of older history arrive after newer ones, and times within a page may be equal.
   * Returns true when it was added.
   */
  add(message, { older = false } = {}) {
    if (message.msgid) {
      if (this.msgids.has(message.msgid)) return false;
      this.msgids.add(message.msgid);
    }
    message.id = nextLocalId++;
    const list = this.messages;
    let i;
    if (older) {
      if (this.olderAt === undefined) {
        const first = list.findIndex((m) => m.msgid);
        this.olderAt = first < 0 ? list.length : first;
      }
      i = this.olderAt++;
    } else {
      i = list.length;
      while (i > 0 && list[i - 1].time > message.time) i--;
    }
    list.splice(i, 0, message);
    if (list.length > MAX_MESSAGES) {
      const dropped = list.splice(0, list.length - MAX_MESSAGES);
      for (const m of dropped) if (m.msgid) this.msgids.delete(m.msgid);
      this.historyDone = false;
      if (this.olderAt !== undefined) this.olderAt = Math.max(0, this.olderAt - dropped.length);
    }
    return true;
  }

  /** Ends a page of older history (see `add`). */
  endOlder() {
    this.olderAt = undefined;
  }

  /** Set a member (adding it) with its prefixes; away is kept unless given. */
  setMember(nick, prefixes = "", away = undefined, casemapping = "ascii") {
    const key = casefold(nick, casemapping);
    const old = this.members.get(key);
    this.members.set(key, {
      nick,
      prefixes,
      away: away === undefined ? Boolean(old && old.away) : away,
    });
  }

  /** The members, operators first, then voiced, then the rest, each by name. */
  sortedMembers(symbols = "@+") {
    const rank = (m) => {
      const i = m.prefixes ? symbols.indexOf(m.prefixes[0]) : -1;
      return i < 0 ? symbols.length : i;
    };
    return [...this.members.values()].sort(
      (a, b) => rank(a) - rank(b) || a.nick.toLowerCase().localeCompare(b.nick.toLowerCase()),
    );
  }
}

/** All buffers, by folded name, and which one is shown. */
export class Network {
  constructor() {
    this.casemapping = "ascii";
    this.buffers = new Map();
    this.server = new Buffer("Server", "server");
    this.current = null;
  }

  key(name) {
    return casefold(name, this.casemapping);
  }

  /** The buffer for `name`, or null. */
  get(name) {
    return this.buffers.get(this.key(name)) || null;
  }

  /** The buffer for `name`, made when missing. */
  ensure(name, kind) {
    let buffer = this.get(name);
    if (!buffer) {
      buffer = new Buffer(name, kind);
      this.buffers.set(this.key(name), buffer);
    }
    return buffer;
  }

  /** Forget a buffer (closing a conversation, parting a channel for good). */
  remove(name) {
    this.buffers.delete(this.key(name));
  }

  /** Channels then conversations, each sorted by name. */
  list() {
    const all = [...this.buffers.values()];
    const byName = (a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase());
    return [
      ...all.filter((b) => b.kind === "channel").sort(byName),
      ...all.filter((b) => b.kind === "dm").sort(byName),
    ];
  }

  /** Rename a member in every buffer (and a conversation's buffer itself). */
  renameNick(oldNick, newNick) {
    const touched = [];
    const oldKey = this.key(oldNick);
    for (const buffer of this.buffers.values()) {
      const m = buffer.members.get(oldKey);
      if (m) {
        buffer.members.delete(oldKey);
        buffer.members.set(this.key(newNick), { ...m, nick: newNick });
        touched.push(buffer);
      }
    }
    const dm = this.buffers.get(oldKey);
    if (dm && dm.kind === "dm" && !this.buffers.has(this.key(newNick))) {
      this.buffers.delete(oldKey);
      dm.name = newNick;
      this.buffers.set(this.key(newNick), dm);
      touched.push(dm);
    }
    return touched;
  }
}

/**
 * Group consecutive join, part and quit events into one line such as
 * "alice and bob joined, carol left": the view shows `items`, each a message or a group.
 */
export function collapseEvents(messages) {
  const items = [];
  let group = null;
  for (const m of messages) {
    if (m.kind === "join" || m.kind === "part" || m.kind === "quit") {
      if (!group) {
        group = { kind: "group", events: [], time: m.time, id: m.id };
        items.push(group);
      }
      group.events.push(m);
    } else {
      group = null;
      items.push(m);
    }
  }
  return items;
}

/** The text of a group of join/part/quit events. */
export function describeGroup(events) {
  const joined = [];
  const left = [];
  for (const e of events) {
    const list = e.kind === "join" ? joined : left;
    const other = e.kind === "join" ? left : joined;
    const j = other.indexOf(e.nick);
    if (j >= 0 && e.kind === "join") {
      other.splice(j, 1); // left and came back: "rejoined" is noise, show nothing for it
      continue;
    }
    if (!list.includes(e.nick)) list.push(e.nick);
  }
  const names = (list) => {
    if (list.length <= 3) return list.length === 1 ? list[0] : list.slice(0, -1).join(", ") + " and " + list.at(-1);
    return `${list.slice(0, 2).join(", ")} and ${list.length - 2} others`;
  };
  const parts = [];
  if (joined.length) parts.push(`${names(joined)} joined`);
  if (left.length) parts.push(`${names(left)} left`);
  return parts.join(", ") || "";
}
