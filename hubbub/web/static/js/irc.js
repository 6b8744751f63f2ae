// IRC lines as data: parse and format one line, IRCv3 tag escaping, names and ISUPPORT.
// Pure functions only (no DOM, no socket, no clock), so they are tested on their own.

const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

/** Undo IRCv3 tag-value escaping (a lone trailing backslash is dropped, as the spec says). */
export function unescapeTag(value) {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    i++;
    if (i >= value.length) break;
    const n = value[i];
    out += n in TAG_UNESCAPES ? TAG_UNESCAPES[n] : n;
  }
  return out;
}

/** Escape a tag value for the wire. */
export function escapeTag(value) {
  return String(value)
    .replace(/\\/g, "\\\\")
    .replace(/;/g, "\\:")
    .replace(/ /g, "\\s")
    .replace(/\r/g, "\\r")
    .replace(/\n/g, "\\n");
}

/**
 * Parse one IRC line (without CR/LF) into {tags, source, command, params}.
 * Returns null for a line with no command: the caller ignores it instead of failing.
 */
export function parseLine(line) {
  let rest = String(line).replace(/[\r\n]+$/, "");
  const tags = {};
  if (rest.startsWith("@")) {
    const end = rest.indexOf(" ");
    if (end < 0) return null;
    for (const item of rest.slice(1, end).split(";")) {
      if (!item) continue;
      const eq = item.indexOf("=");
      if (eq < 0) tags[item] = "";
      else tags[item.slice(0, eq)] = unescapeTag(item.slice(eq + 1));
    }
    rest = rest.slice(end + 1).replace(/^ +/, "");
  }
  let source = null;
  if (rest.startsWith(":")) {
    const end = rest.indexOf(" ");
    if (end < 0) return null;
    source = rest.slice(1, end);
    rest = rest.slice(end + 1).replace(/^ +/, "");
  }
  const params = [];
  let command = null;
  while (rest.length) {
    if (command !== null && rest.startsWith(":")) {
      params.push(rest.slice(1));
      break;
    }
    const end = rest.indexOf(" ");
    const word = end < 0 ? rest : rest.slice(0, end);
    if (command === null) command = word.toUpperCase();
    else params.push(word);
    if (end < 0) break;
    rest = rest.slice(end + 1).replace(/^ +/, "");
  }
  if (!command) return null;
  return { tags, source, command, params };
}

/** Thrown for a line that cannot be sent as asked (a parameter with CR, LF or NUL, say). */
export class LineError extends Error {}

/**
 * Format a line to send: the last parameter becomes trailing when it needs to be.
 * CR, LF and NUL are refused: they would end the line early or be refused by the server.
 */
export function formatLine(command, params = [], tags = null) {
  const parts = [];
  if (tags && Object.keys(tags).length) {
    const items = Object.entries(tags).map(([k, v]) => (v === "" || v === true ? k : `${k}=${escapeTag(v)}`));
    parts.push("@" + items.join(";"));
  }
  parts.push(command);
  params.forEach((p, i) => {
    const s = String(p);
    if (/[\r\n\0]/.test(s)) throw new LineError("a message cannot contain line breaks");
    const last = i === params.length - 1;
    if (!last && (s === "" || s.includes(" ") || s.startsWith(":"))) {
      throw new LineError(`parameter ${i + 1} cannot contain spaces`);
    }
    parts.push(last && (s === "" || s.includes(" ") || s.startsWith(":")) ? ":" + s : s);
  });
  return parts.join(" ");
}

/** The nick of a source `nick!user@host` (or the whole source when it is a server name). */
export function nickOf(source) {
  if (!source) return "";
  const bang = source.indexOf("!");
  return bang < 0 ? source : source.slice(0, bang);
}

/** Lower-case a name as the server compares it (CASEMAPPING ascii or rfc1459). */
export function casefold(name, casemapping = "ascii") {
  let out = String(name).replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (casemapping === "rfc1459") {
    out = out.replace(/[[\]\\~]/g, (c) => ({ "[": "{", "]": "}", "\\": "|", "~": "^" })[c]);
  }
  return out;
}

/** The capabilities of a `CAP LS` value list: name → value ("" when none). */
export function parseCaps(text) {
  const caps = {};
  for (const item of String(text).split(" ")) {
    if (!item) continue;
    const eq = item.indexOf("=");
    if (eq < 0) caps[item] = "";
    else caps[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return caps;
}

/** Parse the tokens of one 005 line (without the nick and the trailing text) into `into`. */
export function parseIsupport(tokens, into = {}) {
  for (const token of tokens) {
    if (token.startsWith("-")) {
      delete into[token.slice(1)];
      continue;
    }
    const eq = token.indexOf("=");
    if (eq < 0) into[token] = "";
    else into[token.slice(0, eq)] = token.slice(eq + 1);
  }
  return into;
}

/** The prefix modes of ISUPPORT PREFIX, e.g. "(ov)@+" → {modes: "ov", symbols: "@+"}. */
export function parsePrefix(value) {
  const m = /^\(([^)]*)\)(.*)$/.exec(value || "");
  if (!m || m[1].length !== m[2].length) return { modes: "ov", symbols: "@+" };
  return { modes: m[1], symbols: m[2] };
}

/** Split a NAMES entry into its prefix symbols and the nick (userhost-in-names stripped). */
export function splitNamesEntry(entry, symbols = "@+") {
  let i = 0;
  while (i < entry.length && symbols.includes(entry[i])) i++;
  return { prefixes: entry.slice(0, i), nick: nickOf(entry.slice(i)) };
}

/** True when `name` is a channel under CHANTYPES. */
export function isChannel(name, chantypes = "#&") {
  return Boolean(name) && chantypes.includes(name[0]);
}

/** The SASL PLAIN response for an account and password, base64 in chunks of at most 400 bytes. */
export function saslPlainChunks(account, password) {
  const bytes = new TextEncoder().encode(`${account}\0${account}\0${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const encoded = btoa(binary);
  const chunks = [];
  for (let i = 0; i < encoded.length; i += 400) chunks.push(encoded.slice(i, i + 400));
  // A response that is an exact multiple of 400 bytes ends with "+" (an empty chunk).
  if (encoded.length % 400 === 0) chunks.push("+");
  return chunks;
}

/** A CTCP ACTION (`/me`) body, or null when the text is not one. */
export function actionText(text) {
  const m = /^\x01ACTION(?: (.*?))?\x01?$/.exec(text);
  return m ? m[1] || "" : null;
}
