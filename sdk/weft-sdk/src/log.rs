//! Writing to the execution's log: `weft_sdk::log::info("fetched 20 contacts")`.
//!
//! The host caps the number and size of lines per call; lines past the cap are dropped.

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes a line at `level`.
pub fn write(level: Level, message: impl AsRef<str>) {
    crate::sys::log(level, message.as_ref());
}

pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message);
}

pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message);
}

pub fn warn(message: impl AsRef<str>) {
    write(Level::Warn, message);
}

pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message);
}
