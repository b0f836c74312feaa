//! `[ui]`: the look of the HTML pages (login, consent, device, errors). A new page setting: add
//! the field and default here, the key to `keycard.example.toml`, and its check to
//! [`UiConfig::validate`]; the page side reads it in `pages.rs`.

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Look of the HTML pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Product name shown in page titles and headers.
    pub product_name: String,
    /// Logo shown above every page: an https URL (or a path on this server).
    pub logo_uri: Option<String>,
    /// Accent colour of buttons and links, `#rrggbb`.
    pub primary_color: String,
    /// Page background colour, `#rrggbb`.
    pub background_color: String,
    /// A directory of templates overriding the built-in ones by file name (`login.html`, ...).
    pub template_dir: Option<PathBuf>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            product_name: "Keycard".into(),
            logo_uri: None,
            primary_color: "#1f5fbf".into(),
            background_color: "#f4f5f7".into(),
            template_dir: None,
        }
    }
}

impl UiConfig {
    /// Checks the `ui.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, color) in [("ui.primary_color", &self.primary_color), ("ui.background_color", &self.background_color)]
        {
            let ok = color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return invalid(key, "must be a colour like #1f5fbf");
            }
        }
        if self.product_name.trim().is_empty() || self.product_name.len() > 100 {
            return invalid("ui.product_name", "must be 1 to 100 characters");
        }
        if let Some(logo) = &self.logo_uri
            && !(logo.starts_with("https://") || (logo.starts_with('/') && !logo.starts_with("//")))
        {
            return invalid("ui.logo_uri", "must be an https URL or a path on this server");
        }
        Ok(())
    }
}
