// Globals of the QuickJS runtime that ES2022's lib does not declare.
declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
};
declare function escape(text: string): string;
declare function unescape(text: string): string;
