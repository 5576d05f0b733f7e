//! Desktop notifications: the control plane's alerts (incidents, coalescing, the message),
//! and what showing them on a desktop adds. Delivery lives in `crate::notify_os`.

pub use switchboard_control::alerts::*;

/// Escapes text for a notification body: freedesktop notification servers may render a
/// subset of HTML there, and key labels, provider names and aliases are user data (T9).
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_never_carry_markup() {
        assert_eq!(
            escape_markup("p/<img src=x onerror=alert(1)> & 'b'"),
            "p/&lt;img src=x onerror=alert(1)&gt; &amp; &#39;b&#39;"
        );
    }
}
