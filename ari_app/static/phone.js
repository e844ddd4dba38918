"use strict";
// The desk's browser phone: SIP over a secure websocket to Asterisk (JsSIP), WebRTC media.
// The account (where to connect, SIP URI, password) comes from GET /api/agents/NAME/phone
// with the agent's own API token; the password is never typed or stored by the page.
(() => {
 const boot = (desk) => {
  const $ = (id) => document.getElementById(id);
  const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
  let account = null;
  let ua = null;
  let session = null;
  let muted = false;

  const said = [];  // what the status line said, latest last (for tests and support)
  function status(text, kind) {
    said.push(text);
    if (said.length > 50) said.shift();
    $("phone-status").textContent = text;
    $("phone-status").dataset.kind = kind || "";
  }

  function controls() {
    const ringing = session !== null && !session.isEstablished() && !session.isEnded();
    const talking = session !== null && session.isEstablished();
    $("answer").disabled = !ringing;
    $("hangup").disabled = !(ringing || talking);
    $("mute").disabled = !talking;
    $("mute").textContent = muted ? "Unmute" : "Mute";
    $("use-softphone").disabled = ringing || talking;
    for (const button of $("keypad").children) button.disabled = !talking;
  }

  async function fillDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [select, kind] of [[$("mic"), "audioinput"], [$("speaker"), "audiooutput"]]) {
      const chosen = select.value;
      select.replaceChildren();
      for (const device of devices.filter((d) => d.kind === kind)) {
        const option = document.createElement("option");
        option.value = device.deviceId;
        option.textContent = device.label || kind + " " + (select.length + 1);
        select.appendChild(option);
      }
      if (chosen) select.value = chosen;
    }
  }

  function microphone() {
    const id = $("mic").value;
    return id ? {deviceId: {exact: id}} : true;
  }

  // The microphone is asked for before registering: a phone that cannot send audio must
  // not take calls (the ACD would offer it callers who hear nothing).
  async function checkMicrophone() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({audio: microphone()});
      for (const track of stream.getTracks()) track.stop();
      await fillDevices();
      return true;
    } catch (error) {
      status("microphone refused or missing (" + error.name + "): allow it for this page, then reload", "error");
      return false;
    }
  }

  function incoming(newSession) {
    if (session !== null) {  // one call at a time: the ACD never offers a second
      newSession.terminate({status_code: 486});
      return;
    }
    session = newSession;
    muted = false;
    status("ringing: " + (session.remote_identity.display_name || session.remote_identity.uri.user), "ringing");
    session.on("peerconnection", (e) => {
      e.peerconnection.addEventListener("track", (event) => { $("remote").srcObject = event.streams[0]; });
    });
    session.on("accepted", () => { status("on a call", "ok"); controls(); });
    session.on("confirmed", () => controls());
    const ended = (e) => {
      status(e && e.cause && e.cause !== "Terminated" && e.cause !== "Canceled" ? "call ended: " + e.cause : "ready", "ok");
      session = null;
      $("remote").srcObject = null;
      controls();
    };
    session.on("ended", ended);
    session.on("failed", ended);
    controls();
  }

  function answer() {
    if (!session || session.isEstablished()) return;
    session.answer({
      mediaConstraints: {audio: microphone(), video: false},
      pcConfig: {iceServers: []},
    });
  }

  function hangup() {
    if (session && !session.isEnded()) session.terminate();
  }

  function register() {
    const socket = new JsSIP.WebSocketInterface(account.wss_url);
    const mine = new JsSIP.UA({
      sockets: [socket],
      uri: account.uri,
      authorization_user: account.agent,
      password: account.password,
      display_name: account.agent,
      register: true,
      register_expires: 120,
      session_timers: false,
      user_agent: "Switchboard desk",
      // A dropped socket is opened again, 2 s then doubling up to 30 s apart.
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
    });
    ua = mine;
    // A phone switched off (ua.stop() when the agent goes back to a softphone) still says
    // "unregistered" and "disconnected" a moment later: only the current phone's events count.
    const on = (event, handler) => mine.on(event, (e) => { if (ua === mine) handler(e); });
    on("connecting", () => status("connecting to " + account.wss_url + "…"));
    on("disconnected", () => status("connection lost: reconnecting…", "error"));
    let retry = 0;
    let again = null;
    on("registered", () => { retry = 0; status("ready", "ok"); });
    on("unregistered", () => status("not registered", "error"));
    on("registrationFailed", (e) => {
      // Asterisk may not know the account yet (it restarted and the app has not given it
      // back): asked again, 3 s then doubling up to a minute apart.
      const wait = Math.min(60, 3 * 2 ** retry++);
      status("registration refused: " + e.cause + " (again in " + wait + " s)", "error");
      clearTimeout(again);
      again = setTimeout(() => { if (ua === mine && mine.isConnected()) mine.register(); }, wait * 1000);
    });
    on("newRTCSession", (e) => { if (e.originator === "remote") incoming(e.session); });
    mine.start();
  }

  async function load() {
    const {ok, answer: got} = await desk.request("/phone");
    if (!ok) { status("no phone account (" + (got.error || "error") + ")", "error"); return; }
    account = got;
    const browser = account.phone === "browser";
    $("phone-kind").textContent = browser ? "in this browser" : "softphone";
    $("use-browser").hidden = browser || !account.wss_url;
    $("use-softphone").hidden = !browser;
    $("phone-controls").hidden = !browser;
    $("phone-devices").hidden = !browser;
    if (!browser) {
      status(account.wss_url ? "calls ring your softphone" : "calls ring your softphone (browser phones are off)");
      return;
    }
    if (!account.wss_url) { status("browser phones are off on this server", "error"); return; }
    if (!window.JsSIP) { status("the SIP library did not load", "error"); return; }
    if (await checkMicrophone()) register();
  }

  async function choose(kind) {
    if (session !== null) { desk.say("finish the call first"); return; }
    const answer = await desk.post("/phone", {phone: kind});
    if (!answer.phone) return;  // refused (said on the page): the phone stays as it was
    if (ua) { ua.stop(); ua = null; }
    await load();
  }

  for (const key of KEYS) {
    const button = document.createElement("button");
    button.textContent = key;
    button.disabled = true;
    button.onclick = () => { if (session) session.sendDTMF(key, {transportType: "RFC2833"}); };
    $("keypad").appendChild(button);
  }
  $("answer").onclick = answer;
  $("hangup").onclick = hangup;
  $("mute").onclick = () => {
    if (!session) return;
    if (muted) session.unmute({audio: true}); else session.mute({audio: true});
    muted = !muted;
    controls();
  };
  $("speaker").onchange = () => {
    const remote = $("remote");
    if (remote.setSinkId) remote.setSinkId($("speaker").value).catch((e) => desk.say("speaker: " + e.message));
  };
  $("use-browser").onclick = () => choose("browser");
  $("use-softphone").onclick = () => choose("softphone");
  document.addEventListener("keydown", (e) => {
    if (!e.altKey) return;
    const key = e.key.toLowerCase();
    if (key === "a") { e.preventDefault(); answer(); }
    else if (key === "h") { e.preventDefault(); hangup(); }
  });
  navigator.mediaDevices?.addEventListener?.("devicechange", () => fillDevices());
  window.addEventListener("beforeunload", () => { if (ua) ua.stop(); });

  // For tests and the curious: the media counters of the current call.
  window.deskPhone = {
    registered: () => ua !== null && ua.isRegistered(),
    said: () => said.slice(),
    inCall: () => session !== null && session.isEstablished(),
    async stats() {
      const pc = session && session.connection;
      const out = {sent: 0, received: 0};
      if (!pc) return out;
      (await pc.getStats()).forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "audio") out.sent += s.packetsSent || 0;
        if (s.type === "inbound-rtp" && s.kind === "audio") out.received += s.packetsReceived || 0;
      });
      return out;
    },
  };
  controls();
  load();
 };
  // The agent desk sets window.desk before this runs; the console once it knows whose
  // phone it is ("desk-ready"); null: nobody signed in.
  if (window.desk) boot(window.desk);
  else if (window.desk === undefined) {
    document.addEventListener("desk-ready", (e) => boot(e.detail), {once: true});
  }
})();
