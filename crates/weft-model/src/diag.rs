//! Diagnostics: one problem found in a definition, with where it is. Parsing and validation
//! return every problem at once as a list of these, so an author fixes a file in one round trip.

use serde::Serialize;

/// One problem in a definition document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Where in the document, as `flows[0].steps[2].inputs.url` (empty for the whole document,
    /// e.g. a syntax error).
    pub path: String,
    /// 1-based line of the offending node, when the document was parsed from text.
    pub line: Option<u32>,
    /// 1-based column of the offending node, when the document was parsed from text.
    pub column: Option<u32>,
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic without a position (for documents that did not come from text).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic { path: path.into(), line: None, column: None, message: message.into() }
    }

    /// The same diagnostic at a 1-based line and column.
    pub fn at(mut self, position: Option<(u32, u32)>) -> Diagnostic {
        if let Some((line, column)) = position {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let position = match (self.line, self.column) {
            (Some(l), Some(c)) => Some(format!("line {l}, column {c}")),
            (Some(l), None) => Some(format!("line {l}")),
            _ => None,
        };
        match (self.path.is_empty(), position) {
            (false, Some(p)) => write!(f, "{} ({p}): {}", self.path, self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
            (true, Some(p)) => write!(f, "{p}: {}", self.message),
            (true, None) => write!(f, "{}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_path_and_position() {
        let d = Diagnostic::new("flows[0].key", "missing required field `key`").at(Some((3, 5)));
        assert_eq!(d.to_string(), "flows[0].key (line 3, column 5): missing required field `key`");
        assert_eq!(Diagnostic::new("", "bad").at(Some((1, 2))).to_string(), "line 1, column 2: bad");
        assert_eq!(Diagnostic::new("key", "bad").to_string(), "key: bad");
    }
}
