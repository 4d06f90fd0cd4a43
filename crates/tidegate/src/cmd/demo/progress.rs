//! A spinner on stderr for anything that takes more than a moment — only when stderr is a
//! terminal, so pipes, CI logs and `--json` consumers never see control characters.

use std::{io::IsTerminal, time::Duration};

/// A running spinner (or nothing, off a terminal). Cleared by [`Spinner::finish`] or drop.
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// Starts a spinner with `message`.
    pub fn start(message: &str) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(80));
        Spinner(Some(bar))
    }

    /// Removes the spinner.
    pub fn finish(self) {}
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
