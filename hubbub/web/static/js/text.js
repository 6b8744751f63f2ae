// What the user reads and types: links in text, nick colours, days and times, mentions, slash
// commands. Pure functions (no DOM), tested on their own.

const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?'")\]}]+$/;

/**
 * Split text into pieces {text} and {text, href}; only http and https links become links
 * (never javascript: or data:), and trailing punctuation stays outside the link.
 */
export function linkify(text) {
  const pieces = [];
  let last = 0;
  for (const m of String(text).matchAll(URL_RE)) {
    let url = m[0];
    const trail = TRAILING_PUNCTUATION.exec(url);
    // Keep a closing parenthesis that closes one opened inside the link (Wikipedia links).
    if (trail) {
      let cut = trail[0];
      if (cut.startsWith(")") && (url.match(/\(/g) || []).length > (url.match(/\)/g) || []).length - cut.length) {
        cut = cut.slice(1);
      }
      url = url.slice(0, url.length - cut.length);
    }
    const href = safeHref(url);
    if (!href) continue;
    if (m.index > last) pieces.push({ text: text.slice(last, m.index) });
    pieces.push({ text: url, href });
    last = m.index + url.length;
  }
  if (last < text.length) pieces.push({ text: text.slice(last) });
  return pieces;
}

/** The URL as an href if it is http or https, else null. */
export function safeHref(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** A stable hue (0-359) for a nick, so each nick keeps its colour everywhere. */
export function nickHue(nick) {
  let h = 0;
  for (const c of String(nick).toLowerCase()) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return h % 360;
}

/** The local calendar day of a time, as "YYYY-MM-DD" (day separators compare these). */
export function dayKey(date) {
  const d = new Date(date);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** "Today", "Yesterday" or the date, for a day separator. */
export function dayLabel(date, now = new Date()) {
  const key = dayKey(date);
  if (key === dayKey(now)) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (key === dayKey(yesterday)) return "Yesterday";
  return new Date(date).toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

/** Hours and minutes of a time, in the user's locale. */
export function timeLabel(date) {
  return new Date(date).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** The time of a message: its server-time tag when valid, else `fallback` (now). */
export function messageTime(tags, fallback = new Date()) {
  if (tags && tags.time) {
    const t = new Date(tags.time);
    if (!Number.isNaN(t.getTime())) return t;
  }
  return fallback;
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** True when `text` names `nick` as a word (case-insensitive). */
export function mentions(text, nick) {
  if (!nick) return false;
  const re = new RegExp(`(^|[^\\p{L}\\p{N}_\\-\\[\\]\\\\^{}|\`])${escapeRegExp(nick)}($|[^\\p{L}\\p{N}_\\-\\[\\]\\\\^{}|\`])`, "iu");
  return re.test(text);
}

/** Thrown for a slash command that cannot run; its message is shown to the user. */
export class CommandError extends Error {}

const USAGE = {
  join: "/join #channel [key]",
  part: "/part [#channel] [reason]",
  msg: "/msg nick message",
  me: "/me action",
  nick: "/nick newnick",
  topic: "/topic [new topic]",
  away: "/away [message]",
};

/**
 * What the user typed in buffer `target`, as an action:
 * {kind: "say"|"me"|"join"|"part"|"msg"|"nick"|"topic"|"away"|"quote"|"close", ...}.
 * Text starting with "//" is said with one slash.
 */
export function parseInput(text, target) {
  if (!text.startsWith("/") || text.startsWith("//")) {
    return { kind: "say", target, text: text.startsWith("//") ? text.slice(1) : text };
  }
  const m = /^\/(\S+)\s*(.*)$/s.exec(text);
  const name = m[1].toLowerCase();
  const rest = m[2];
  const words = rest.split(/\s+/).filter(Boolean);
  const need = (ok) => {
    if (!ok) throw new CommandError(`Usage: ${USAGE[name]}`);
  };
  switch (name) {
    case "me":
      need(rest.length > 0 && target);
      return { kind: "me", target, text: rest };
    case "join":
    case "j": {
      need(words.length >= 1);
      let channel = words[0];
      if (!/^[#&]/.test(channel)) channel = "#" + channel;
      return { kind: "join", channel, key: words[1] || "" };
    }
    case "part":
    case "leave": {
      let channel = target;
      let reason = rest;
      if (words.length && /^[#&]/.test(words[0])) {
        channel = words[0];
        reason = rest.slice(rest.indexOf(words[0]) + words[0].length).trim();
      }
      need(channel && /^[#&]/.test(channel));
      return { kind: "part", channel, reason };
    }
    case "msg":
    case "query": {
      need(words.length >= 1);
      const to = words[0];
      const body = rest.slice(rest.indexOf(to) + to.length).replace(/^\s/, "");
      if (name === "msg") need(body.length > 0);
      return { kind: "msg", target: to, text: body };
    }
    case "nick":
      need(words.length === 1);
      return { kind: "nick", nick: words[0] };
    case "topic":
      need(target && /^[#&]/.test(target));
      return { kind: "topic", channel: target, text: rest, set: rest.length > 0 };
    case "away":
      return { kind: "away", text: rest };
    case "back":
      return { kind: "away", text: "" };
    case "close":
      return { kind: "close", target };
    case "quote":
    case "raw":
      need(rest.length > 0);
      return { kind: "quote", line: rest };
    default:
      throw new CommandError(`Unknown command /${name}. Commands: /join /part /msg /me /nick /topic /away`);
  }
}

/**
 * Split text into pieces of at most `maxBytes` bytes of UTF-8, at a space when one is near the end
 * of a piece, never inside a character: a long paste is sent as several messages, not refused.
 */
export function splitMessage(text, maxBytes) {
  const encoder = new TextEncoder();
  const pieces = [];
  let rest = text;
  while (encoder.encode(rest).length > maxBytes) {
    // The longest prefix of whole code points that fits.
    let bytes = 0;
    let end = 0;
    for (const ch of rest) {
      const n = encoder.encode(ch).length;
      if (bytes + n > maxBytes) break;
      bytes += n;
      end += ch.length;
    }
    const space = rest.lastIndexOf(" ", end);
    const cut = space > end * 0.7 ? space : end;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut === space ? cut + 1 : cut);
  }
  if (rest.length || !pieces.length) pieces.push(rest);
  return pieces;
}
