//! What the host reads of a Spin application manifest (`spin.toml`): the
//! application's variables with their defaults, the component's variables
//! (templates over them), and its `allowed_outbound_hosts` (templates too),
//! resolved as Spin resolves them for `spin up` with `SPIN_VARIABLE_*` set.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};

/// The component settings the host applies.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// The component's variables, by name.
    pub variables: HashMap<String, String>,
    /// The component's `allowed_outbound_hosts`, templates resolved; an
    /// entry that resolved to nothing is left out (Spin allows nothing by it).
    pub allowed_outbound_hosts: Vec<String>,
}

/// Resolves the first component of the manifest at `path`, with `given`
/// application variable values (as `SPIN_VARIABLE_<NAME>` would give them).
pub fn resolve(path: &Path, given: &[(String, String)]) -> anyhow::Result<Resolved> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let doc: toml::Table = text
        .parse()
        .with_context(|| format!("parse {}", path.display()))?;
    let mut app = HashMap::new();
    if let Some(variables) = doc.get("variables").and_then(|v| v.as_table()) {
        for (name, spec) in variables {
            let value = given
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    spec.get("default")
                        .and_then(|d| d.as_str())
                        .map(str::to_owned)
                });
            match value {
                Some(value) => {
                    app.insert(name.clone(), value);
                }
                None => bail!("variable {name} is required and was not given"),
            }
        }
    }
    let component = doc
        .get("component")
        .and_then(|c| c.as_table())
        .and_then(|c| c.values().next())
        .and_then(|c| c.as_table())
        .context("the manifest has no component")?;
    let mut resolved = Resolved::default();
    if let Some(variables) = component.get("variables").and_then(|v| v.as_table()) {
        for (name, template) in variables {
            let template = template.as_str().unwrap_or_default();
            resolved
                .variables
                .insert(name.clone(), expand(template, &app)?);
        }
    }
    if let Some(hosts) = component
        .get("allowed_outbound_hosts")
        .and_then(|h| h.as_array())
    {
        for host in hosts {
            let value = expand(host.as_str().unwrap_or_default(), &app)?;
            if !value.is_empty() {
                resolved.allowed_outbound_hosts.push(value);
            }
        }
    }
    Ok(resolved)
}

/// Expands `{{ name }}` templates (Spin's expression syntax, names only).
fn expand(template: &str, app: &HashMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").context("an unclosed {{ in a template")?;
        let name = after[..end].trim();
        let value = app
            .get(name)
            .with_context(|| format!("the template names an unknown variable {name}"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_given_values_over_defaults() {
        let app: HashMap<String, String> = [("a".to_owned(), "x".to_owned())].into();
        assert_eq!(expand("{{ a }}", &app).unwrap(), "x");
        assert_eq!(expand("pre-{{a}}-post", &app).unwrap(), "pre-x-post");
        assert!(expand("{{ b }}", &app).is_err());
    }
}
