// The page: builds every node with textContent (never innerHTML with anything a user or the
// server wrote), so message text can never become markup.

import { collapseEvents, describeGroup } from "./state.js";
import { dayKey, dayLabel, linkify, nickHue, timeLabel } from "./text.js";

/** `document.createElement` with a class and text. */
export function el(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

/** Text with its http(s) links as anchors that open in a new tab. */
export function richText(text) {
  const span = el("span", "text");
  for (const piece of linkify(text)) {
    if (piece.href) {
      const a = el("a", "", piece.text);
      a.href = piece.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      span.append(a);
    } else {
      span.append(document.createTextNode(piece.text));
    }
  }
  return span;
}

function nickNode(nick) {
  const span = el("span", "nick", nick);
  span.style.setProperty("--hue", String(nickHue(nick)));
  return span;
}

/** The node of one message (or a group of join/part/quit events). */
export function messageNode(item, buffer, { onReply = null } = {}) {
  const row = el("div", "msg");
  row.dataset.id = String(item.id);
  if (item.msgid) row.dataset.msgid = item.msgid;
  row.append(el("span", "time", timeLabel(item.time)));
  const body = el("div", "body");
  row.append(body);
  switch (item.kind) {
    case "group":
      row.classList.add("event");
      body.textContent = describeGroup(item.events);
      if (!body.textContent) return null;
      break;
    case "privmsg":
    case "notice":
    case "action": {
      row.classList.add(item.kind);
      if (item.mention) row.classList.add("mention");
      if (item.self) row.classList.add("self");
      if (item.replyTo) {
        const original = buffer.messages.find((m) => m.msgid === item.replyTo);
        const quote = el("span", "quote");
        quote.textContent = original ? `↪ ${original.nick}: ${original.text}` : "↪ reply to an earlier message";
        body.append(quote);
      }
      if (item.kind === "action") body.append(el("span", "", "* "));
      body.append(nickNode(item.nick));
      body.append(richText(item.text));
      if (item.msgid && onReply) {
        const button = el("button", "reply-button", "Reply");
        button.type = "button";
        button.addEventListener("click", () => onReply(item));
        row.append(button);
      }
      break;
    }
    default:
      row.classList.add(item.kind === "error" || item.kind === "gap" ? item.kind : "info");
      body.append(richText(item.text || ""));
  }
  row.title = item.time.toLocaleString();
  return row;
}

/** Rebuild the message list of `buffer` into `container` (day separators included). */
export function renderMessages(container, buffer, options = {}) {
  const fragment = document.createDocumentFragment();
  if (buffer.historyDone && buffer.kind !== "server") {
    fragment.append(el("div", "history-note", "This is the beginning of the history."));
  } else if (buffer.loadingHistory) {
    fragment.append(el("div", "history-note", "Loading older messages…"));
  }
  let lastDay = null;
  const now = new Date();
  for (const item of collapseEvents(buffer.messages)) {
    const day = dayKey(item.time);
    if (day !== lastDay) {
      const sep = el("div", "day", dayLabel(item.time, now));
      sep.setAttribute("role", "separator");
      fragment.append(sep);
      lastDay = day;
    }
    const node = messageNode(item, buffer, options);
    if (node) fragment.append(node);
  }
  container.replaceChildren(fragment);
}

/** One entry of the channel or conversation list. */
export function bufferItem(buffer, active, onSelect) {
  const li = el("li");
  li.dataset.name = buffer.name;
  li.tabIndex = 0;
  if (active) li.classList.add("active");
  if (buffer.unread) li.classList.add("unread");
  if (buffer.kind === "channel" && !buffer.joined) li.classList.add("parted");
  li.append(el("span", "label", buffer.name));
  if (buffer.mentions) {
    const badge = el("span", "badge", String(buffer.mentions));
    badge.title = "mentions";
    li.append(badge);
  } else if (buffer.unread) {
    li.append(el("span", "unread-count", String(buffer.unread)));
  }
  li.addEventListener("click", () => onSelect(buffer));
  li.addEventListener("keydown", (e) => {
    if (e.key === "Enter") onSelect(buffer);
  });
  return li;
}

/** One entry of the member list: prefix (@ or +), presence dot, nick, "away". */
export function memberItem(member, onSelect) {
  const li = el("li");
  li.dataset.nick = member.nick;
  if (member.away) li.classList.add("away");
  li.append(el("span", "prefix", member.prefixes.slice(0, 1)));
  li.append(el("span", "presence"));
  li.append(nickNode(member.nick));
  if (member.away) li.append(el("span", "away-label", "away"));
  li.title = member.prefixes.includes("@") ? "operator" : member.prefixes.includes("+") ? "voice" : "";
  li.addEventListener("click", () => onSelect(member.nick));
  return li;
}

/** "alice is typing…", "alice and bob are typing…", "several people are typing…". */
export function typingText(nicks) {
  if (!nicks.length) return "";
  if (nicks.length === 1) return `${nicks[0]} is typing…`;
  if (nicks.length <= 3) return `${nicks.slice(0, -1).join(", ")} and ${nicks.at(-1)} are typing…`;
  return "Several people are typing…";
}
