// The page's entry point: the login form, then the chat view bound to one Client.

import { Client, websocketUrl } from "./client.js";
import { LineError } from "./irc.js";
import { CommandError, parseInput } from "./text.js";
import { bufferItem, memberItem, renderMessages, richText, typingText } from "./view.js";

const $ = (id) => document.getElementById(id);
const STORE_NICK = "hubbub.nick";
const STORE_CHANNELS = "hubbub.channels";

let client = null;
let replyTo = null;
let renderQueued = false;
let dirtyMessages = true;
let lastRenderedBuffer = null;
let pendingSelect = null; // a channel the user joined with /join, shown once joined

function stored(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Private windows may refuse storage; the client works without it.
  }
}

// login --------------------------------------------------------------------------------------

function showLogin(error = "") {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = error;
  $("login-submit").disabled = false;
}

$("login-nick").value = stored(STORE_NICK, "");
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = $("login-nick").value.trim();
  if (!nick || /[\s,*?!@]/.test(nick) || /^[#&:$0-9-]/.test(nick)) {
    $("login-error").textContent = "A nickname is one word, starting with a letter.";
    return;
  }
  store(STORE_NICK, nick);
  $("login-submit").disabled = true;
  $("login-error").textContent = "";
  start(nick, $("login-password").value);
});

function start(nick, password) {
  client?.quit();
  client = new Client(websocketUrl(location), { nick, password, channels: stored(STORE_CHANNELS, []) });
  // Exposed for people debugging from the console (and for tests that inspect state).
  globalThis.hubbubClient = client;
  client.subscribe(onEvent);
  client.connect();
}

// events from the client ---------------------------------------------------------------------

function onEvent(event) {
  switch (event.type) {
    case "loginFailed":
      client.quit();
      showLogin(event.reason);
      return;
    case "registered":
      $("login").hidden = true;
      $("app").hidden = false;
      $("login-password").value = "";
      updateNotifyButton();
      $("input").focus();
      break;
    case "notify":
      notify(event.buffer, event.message);
      break;
    case "joined":
      rememberChannels();
      // The user asked to join it (/join): show it once the server says we are in.
      if (pendingSelect && client.network.key(pendingSelect) === client.network.key(event.buffer.name)) {
        pendingSelect = null;
        selectBuffer(event.buffer);
      }
      break;
    case "parted":
      rememberChannels();
      break;
    case "message":
    case "history":
      if (event.buffer === client.network.current) dirtyMessages = true;
      break;
    default:
      break;
  }
  schedule();
}

function rememberChannels() {
  store(
    STORE_CHANNELS,
    client.network.list().filter((b) => b.kind === "channel" && b.wanted !== false).map((b) => b.name),
  );
}

function schedule() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(render, 0);
}

// drawing ------------------------------------------------------------------------------------

function render() {
  renderQueued = false;
  if (!client) return;
  const network = client.network;
  const current = network.current || network.server;
  $("me").textContent = client.nick + (client.away ? " (away)" : "");

  const select = (buffer) => selectBuffer(buffer);
  const channels = [];
  const dms = [];
  for (const buffer of network.list()) {
    (buffer.kind === "channel" ? channels : dms).push(bufferItem(buffer, buffer === current, select));
  }
  $("channels").replaceChildren(...channels);
  $("dms").replaceChildren(...dms);
  $("server-list").replaceChildren(bufferItem(network.server, current === network.server, select));

  const unread = network.list().reduce((n, b) => n + b.mentions, 0);
  document.title = unread ? `(${unread}) hubbub` : "hubbub";

  $("buffer-name").textContent = current.kind === "channel" ? current.name : current.kind === "dm" ? `@${current.name}` : "Server";
  $("topic").replaceChildren(richText(current.topic || ""));
  $("topic").title = current.topic || "";
  $("toggle-sidebar").classList.toggle("has-mentions", unread > 0);

  const status = $("status");
  if (client.status === "reconnecting") {
    status.hidden = false;
    status.textContent = "Connection lost. Reconnecting…";
  } else {
    status.hidden = true;
  }

  const messages = $("messages");
  if (dirtyMessages || lastRenderedBuffer !== current) {
    const switched = lastRenderedBuffer !== current;
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    const fromBottom = messages.scrollHeight - messages.scrollTop;
    renderMessages(messages, current, { onReply: current.kind === "server" ? null : startReply });
    if (switched || atBottom) messages.scrollTop = messages.scrollHeight;
    else messages.scrollTop = messages.scrollHeight - fromBottom; // older messages came in above
    dirtyMessages = false;
    lastRenderedBuffer = current;
    // A short history does not fill the pane: fetch more until it scrolls or ends.
    if (messages.scrollHeight <= messages.clientHeight) client.loadOlder(current);
  }

  $("members-title").textContent = current.kind === "channel" ? `Members (${current.members.size})` : "Members";
  $("members").replaceChildren(
    ...(current.kind === "channel" ? current.sortedMembers(client.prefix.symbols).map((m) => memberItem(m, openConversation)) : []),
  );
  const now = Date.now();
  const typing = [...current.typing].filter(([, until]) => until > now).map(([nick]) => nick);
  $("typing").textContent = typingText(typing);
}

function selectBuffer(buffer) {
  const network = client.network;
  network.current = buffer;
  buffer.unread = 0;
  buffer.mentions = 0;
  cancelReply();
  $("app").classList.remove("show-sidebar", "show-members");
  dirtyMessages = true;
  schedule();
  $("input").focus();
}

function openConversation(nick) {
  if (client.isMe(nick)) return;
  selectBuffer(client.openConversation(nick));
}

// replies ------------------------------------------------------------------------------------

function startReply(message) {
  if (!client.caps.has("message-tags")) return;
  replyTo = message;
  $("reply-text").textContent = `Replying to ${message.nick}: ${message.text}`;
  $("reply-bar").hidden = false;
  $("input").focus();
}

function cancelReply() {
  replyTo = null;
  $("reply-bar").hidden = true;
}
$("reply-cancel").addEventListener("click", cancelReply);

// typing and sending -------------------------------------------------------------------------

const input = $("input");
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("compose").requestSubmit();
  } else if (event.key === "Escape") {
    cancelReply();
  }
});
input.addEventListener("input", () => {
  const current = client?.network.current;
  if (current && current.kind !== "server" && input.value && !input.value.startsWith("/")) client.typing(current.name);
});

$("compose").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim() || !client) return;
  const current = client.network.current || client.network.server;
  const target = current.kind === "server" ? null : current.name;
  try {
    run(parseInput(text, target));
    input.value = "";
    cancelReply();
  } catch (err) {
    if (err instanceof CommandError || err instanceof LineError) client.info(current, err.message, "error");
    else throw err;
  }
  schedule();
});

function run(action) {
  switch (action.kind) {
    case "say":
    case "me":
      if (!action.target) throw new CommandError("Pick a channel or a person to talk to first.");
      client.say(action.target, action.text, { action: action.kind === "me", replyTo: replyTo?.msgid });
      break;
    case "join": {
      const existing = client.network.get(action.channel);
      if (existing && existing.joined) selectBuffer(existing);
      else {
        pendingSelect = action.channel;
        client.join(action.channel, action.key);
      }
      break;
    }
    case "part":
      client.part(action.channel, action.reason);
      break;
    case "msg": {
      if (/^[#&]/.test(action.target)) {
        // A channel: said there (shown there once the server echoes it), no conversation made.
        if (action.text) client.say(action.target, action.text);
        break;
      }
      const buffer = client.openConversation(action.target);
      if (action.text) client.say(action.target, action.text);
      selectBuffer(buffer);
      break;
    }
    case "nick":
      client.setNick(action.nick);
      break;
    case "topic":
      if (action.set) client.setTopic(action.channel, action.text);
      else client.info(client.network.get(action.channel), `Topic: ${client.network.get(action.channel)?.topic || "(none)"}`);
      break;
    case "away":
      client.awayText = action.text;
      client.setAway(action.text);
      break;
    case "close": {
      const buffer = client.network.get(action.target || "");
      if (buffer && buffer.kind === "dm") {
        client.network.remove(buffer.name);
        selectBuffer(client.network.list()[0] || client.network.server);
      } else if (buffer) client.part(buffer.name);
      break;
    }
    case "quote":
      client.sendRaw(action.line);
      break;
    default:
      break;
  }
}

// Typing indicators expire without a message saying so.
setInterval(() => {
  if (!client) return;
  const current = client.network.current;
  if (current && current.typing.size) {
    const now = Date.now();
    for (const [nick, until] of current.typing) if (until <= now) current.typing.delete(nick);
    schedule();
  }
}, 250);

// history when scrolling up ------------------------------------------------------------------

$("messages").addEventListener("scroll", () => {
  const messages = $("messages");
  if (client && messages.scrollTop < 80) {
    const current = client.network.current;
    if (current) client.loadOlder(current);
    schedule();
  }
});

// notifications ------------------------------------------------------------------------------

function updateNotifyButton() {
  $("notify-button").hidden = !("Notification" in globalThis) || Notification.permission !== "default";
}

$("notify-button").addEventListener("click", async () => {
  await Notification.requestPermission();
  updateNotifyButton();
});

function notify(buffer, message) {
  if (!("Notification" in globalThis) || Notification.permission !== "granted") return;
  const title = buffer.kind === "dm" ? message.nick : `${message.nick} in ${buffer.name}`;
  const note = new Notification(title, { body: message.text, tag: buffer.name });
  note.onclick = () => {
    window.focus();
    selectBuffer(buffer);
    note.close();
  };
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && client?.network.current) {
    client.network.current.unread = 0;
    client.network.current.mentions = 0;
    schedule();
  }
});

// the phone layout's panels ------------------------------------------------------------------

$("toggle-sidebar").addEventListener("click", () => $("app").classList.toggle("show-sidebar"));
$("toggle-members").addEventListener("click", () => $("app").classList.toggle("show-members"));
