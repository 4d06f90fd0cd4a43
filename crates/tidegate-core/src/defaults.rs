//! CONTRACT §2's `[logging]` redaction defaults, in one place: the config model's defaults and
//! every redactor built without a config (in-process error normalization, the event delivery
//! worker, tests) use these lists.

/// `logging.redact_headers` when the config does not set it.
pub const DEFAULT_REDACT_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "proxy-authorization",
];

/// `logging.redact_fields` when the config does not set it.
pub const DEFAULT_REDACT_FIELDS: &[&str] = &[
    "email",
    "ssn",
    "phone",
    "password",
    "access_token",
    "refresh_token",
    "client_secret",
];
