//! Collecting diagnostics: byte spans → `PATH:LINE:COL`, suppression of follow-on errors, and
//! scrubbing of interpolated values (which may be secrets) out of messages.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::{ConfigError, ConfigErrors};

/// Everything the loader learns while walking one document.
pub(crate) struct Diagnostics {
    path: PathBuf,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    src: String,
    errors: Vec<(Range<usize>, String)>,
    /// Spans whose value is already known to be wrong (an unset `${VAR}`): later errors inside
    /// them are consequences, not news, and are dropped.
    poisoned: Vec<Range<usize>>,
    /// (span, interpolated text): a message about a value inside the span must not repeat the
    /// text, which came from the environment and may be a secret.
    interpolated: Vec<(Range<usize>, String)>,
    /// Regions past the end of `src` that hold shifted preset spans, mapped back to the
    /// `preset = "..."` value that pulled the preset in.
    virtual_regions: Vec<VirtualRegion>,
    next_virtual: usize,
}

struct VirtualRegion {
    range: Range<usize>,
    anchor: Range<usize>,
    preset: String,
}

impl Diagnostics {
    pub(crate) fn new(path: &Path, src: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path: path.to_owned(),
            line_starts,
            src: src.to_owned(),
            errors: Vec::new(),
            poisoned: Vec::new(),
            interpolated: Vec::new(),
            virtual_regions: Vec::new(),
            next_virtual: src.len() + 1,
        }
    }

    /// Records an error at `span` unless it lies in a poisoned span.
    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        if self.is_poisoned(&span) {
            return;
        }
        let mut message = message.into();
        let mut span = span;
        if let Some(region) = self
            .virtual_regions
            .iter()
            .find(|r| r.range.contains(&span.start))
        {
            message = if message.starts_with("missing key") {
                format!("{message}; preset `{}` does not provide it", region.preset)
            } else {
                format!("{message} (from preset `{}`)", region.preset)
            };
            span = region.anchor.clone();
        }
        for (range, text) in &self.interpolated {
            if overlaps(range, &span) && !text.is_empty() {
                message = message.replace(text.as_str(), "[interpolated value]");
            }
        }
        self.errors.push((span, message));
    }

    /// Reserves a region for the spans of a preset text of `len` bytes; returns the offset to
    /// shift its spans by. Errors inside it are reported at `anchor`.
    pub(crate) fn add_virtual(&mut self, len: usize, anchor: Range<usize>, preset: &str) -> usize {
        let offset = self.next_virtual;
        self.next_virtual += len + 1;
        self.virtual_regions.push(VirtualRegion {
            range: offset..offset + len + 1,
            anchor,
            preset: preset.to_owned(),
        });
        offset
    }

    /// A fresh span for a value the loader made up (a placeholder for a missing key); any
    /// error about it is dropped.
    pub(crate) fn placeholder_span(&mut self) -> Range<usize> {
        let span = self.next_virtual..self.next_virtual + 1;
        self.next_virtual += 2;
        self.poisoned.push(span.clone());
        span
    }

    pub(crate) fn poison(&mut self, span: Range<usize>) {
        self.poisoned.push(span);
    }

    pub(crate) fn is_poisoned(&self, span: &Range<usize>) -> bool {
        self.poisoned
            .iter()
            .any(|p| p.start <= span.start && span.end <= p.end && span.start < p.end)
    }

    pub(crate) fn note_interpolated(&mut self, span: Range<usize>, text: String) {
        self.interpolated.push((span, text));
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// 1-based (line, column in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .src
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// All errors in file order (duplicates at the same place removed).
    pub(crate) fn into_errors(self) -> ConfigErrors {
        let mut located: Vec<ConfigError> = self
            .errors
            .iter()
            .map(|(span, message)| {
                let (line, col) = self.line_col(span.start);
                ConfigError {
                    path: self.path.clone(),
                    line,
                    col,
                    message: message.clone(),
                }
            })
            .collect();
        located.sort_by_key(|e| (e.line, e.col));
        located.dedup();
        ConfigErrors { errors: located }
    }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end.max(b.start + 1) && b.start < a.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let d = Diagnostics::new(Path::new("x.toml"), "ab\nçé = 1\n\nz");
        assert_eq!(d.line_col(0), (1, 1));
        assert_eq!(d.line_col(1), (1, 2));
        assert_eq!(d.line_col(3), (2, 1));
        // "çé" is 4 bytes, 2 characters: the space after it is column 3.
        assert_eq!(d.line_col(7), (2, 3));
        assert_eq!(d.line_col(12), (3, 1));
        assert_eq!(d.line_col(13), (4, 1));
        assert_eq!(d.line_col(999), (4, 2));
    }

    #[test]
    fn poisoned_spans_swallow_follow_on_errors_and_secrets_are_scrubbed() {
        let mut d = Diagnostics::new(Path::new("x.toml"), "a = \"${X}\"\nb = 2\n");
        d.poison(4..10);
        d.error(4..10, "follow-on");
        d.note_interpolated(15..16, "hunter22".into());
        d.error(15..16, "invalid type: string \"hunter22\", expected u32");
        let offset = d.add_virtual(50, 0..1, "hubspot");
        assert_eq!(offset, 18);
        d.error(offset + 3..offset + 5, "unknown key `x`");
        let errors = d.into_errors();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors.errors[0].message,
            "unknown key `x` (from preset `hubspot`)"
        );
        assert_eq!((errors.errors[0].line, errors.errors[0].col), (1, 1));
        let errors = ConfigErrors {
            errors: errors.errors[1..].to_vec(),
        };
        assert_eq!(
            errors.to_string(),
            "x.toml:2:5: invalid type: string \"[interpolated value]\", expected u32"
        );
    }
}
