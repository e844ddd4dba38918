// The bundle's one export: JsSIP as a global for the agent desk's plain scripts.
window.JsSIP = require("jssip");
