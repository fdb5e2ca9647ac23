//! `.env` files, as the Supabase CLI (godotenv) reads them: one parser for
//! a project's `supabase/.env` (`cli_project`) and the functions' secrets
//! files (`functions::policy`, which filters the names).

/// `KEY=value` lines (`export ` allowed, `#` comments, single or double
/// quotes; `\n` in double quotes is a newline), as godotenv reads them.
pub fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().to_string();
        let v = v.trim();
        let v = if let Some(q) = v.strip_prefix('"').and_then(|v| v.rsplit_once('"')) {
            q.0.replace("\\n", "\n").replace("\\\"", "\"")
        } else if let Some(q) = v.strip_prefix('\'').and_then(|v| v.rsplit_once('\'')) {
            q.0.to_string()
        } else {
            v.split(" #").next().unwrap_or("").trim().to_string()
        };
        if !k.is_empty() {
            out.push((k, v));
        }
    }
    out
}
