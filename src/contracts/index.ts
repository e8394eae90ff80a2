export * from "./alert.js";
export * from "./decode.js";
export * from "./event.js";
export * from "./ids.js";
export * from "./subjects.js";
export * from "./window.js";
