// The nick the user chose, and winning it back. When it is taken at login (most often by our own
// old connection, which the server has not yet found dead after a network change), the client
// registers as "nick_" (handlers.js); from then on it watches the chosen nick with MONITOR when
// the server offers it (IRCv3 monitor: 731 says it went offline), else asks for it again now and
// then, further and further apart, a bounded number of times. Once it is free, NICK takes it back.

import { casefold } from "./irc.js";

/** Seconds between NICK attempts on a server without MONITOR: growing, then the last again. */
export const RECLAIM_DELAYS = [2, 4, 8, 15, 30, 60];
/** NICK attempts on a server without MONITOR before giving up (about half an hour in all). */
export const RECLAIM_TRIES = 40;

/** Seconds before NICK attempt number `attempt` (0 first), or null when there is none. */
export function reclaimDelay(attempt) {
  if (attempt >= RECLAIM_TRIES) return null;
  return RECLAIM_DELAYS[Math.min(attempt, RECLAIM_DELAYS.length - 1)];
}

/** Whether ISUPPORT lets this client MONITOR a nick (`MONITOR`, `MONITOR=` or `MONITOR=n` with n > 0). */
export function canMonitor(isupport) {
  if (!("MONITOR" in isupport)) return false;
  return isupport.MONITOR === "" || Number(isupport.MONITOR) > 0;
}

/** The nick the user chose, for one Client: watches it while the client has another, takes it back. */
export class ChosenNick {
  /** @param {import("./client.js").Client} client */
  constructor(client) {
    this.client = client;
    this.watching = false; // registered under another nick, waiting for this one to be free
    this.monitored = null; // the nick the server watches for us (MONITOR +), or null
    this.attempts = 0; // NICK attempts by timer (servers without MONITOR)
    this.asked = false; // a NICK of ours for it awaits its answer
    this.timer = null;
  }

  get nick() {
    return this.client.wantedNick;
  }

  is(nick) {
    const mapping = this.client.network.casemapping;
    return casefold(nick, mapping) === casefold(this.nick, mapping);
  }

  /** Just registered: if the server gave us another nick, start watching for the chosen one. */
  registered() {
    this.stop();
    if (!this.nick || this.client.isMe(this.nick)) return;
    this.watching = true;
    this.attempts = 0;
    if (canMonitor(this.client.isupport)) {
      this.monitored = this.nick;
      this.client.send("MONITOR", ["+", this.nick]); // 731 at once if it is free already
    } else {
      this.schedule();
    }
  }

  /** 731 (RPL_MONOFFLINE): the nicks in `list` went (or are) offline. */
  offline(list) {
    if (!this.watching || !this.monitored) return;
    if (list.split(",").some((nick) => nick && this.is(nick))) this.ask();
  }

  /** 734 (ERR_MONLISTFULL): the server will not watch it for us; ask now and then instead. */
  monitorRefused() {
    if (!this.watching || !this.monitored) return;
    this.monitored = null;
    this.schedule();
  }

  /**
   * The server refused NICK `nick` (433 in use, 432 not valid, 436 collision) after registration.
   * True when it answered our own attempt: nothing to show the user, who did not ask.
   */
  refused(nick, code) {
    if (!this.asked || !this.is(nick)) return false;
    this.asked = false;
    // In use: wait for it to be free again (MONITOR says when, or the next attempt). Anything
    // else (not valid here) will not change by waiting.
    if (code !== "433") this.stop();
    return true;
  }

  /** Our nick changed (NICK from the server): the one we have now is the one to keep. */
  changed(nick) {
    this.stop();
    this.client.wantedNick = nick;
  }

  ask() {
    this.asked = true;
    this.client.send("NICK", [this.nick]);
  }

  schedule() {
    clearTimeout(this.timer);
    const delay = reclaimDelay(this.attempts);
    if (delay === null) {
      this.watching = false; // given up: the user can still /nick it
      return;
    }
    this.timer = setTimeout(() => {
      this.attempts++;
      this.ask();
      this.schedule();
    }, delay * 1000);
  }

  /** Stop watching (taken back, another nick chosen, or the connection is gone). */
  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.monitored) this.client.send("MONITOR", ["-", this.monitored]); // a no-op once the socket closed
    this.watching = false;
    this.monitored = null;
    this.asked = false;
  }
}
