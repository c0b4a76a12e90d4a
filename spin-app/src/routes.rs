//! Every HTTP route of the service, in one table.

use bgtasks_core::{Problem, TaskId, TaskKind};

/// What a request asks for, once its method and path matched a route.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Submit(TaskKind),
    Status(Option<TaskId>),
    Retry(Option<TaskId>),
    Cancel(Option<TaskId>),
    List,
    Delete(Option<TaskId>),
    Output(Option<TaskId>),
    Health,
    OpenApi,
    /// `/`: the playground page.
    Page,
    /// `/playground/<file>`: the page's scripts, styles and wasm module. The
    /// name is checked: plain segments only, no `..`.
    Asset(String),
}

impl Route {
    /// Whether the route wants the API token (when one is set): all but the
    /// health check, the API description and the playground.
    pub fn needs_token(&self) -> bool {
        !matches!(
            self,
            Route::Health | Route::OpenApi | Route::Page | Route::Asset(_)
        )
    }
}

/// A request the router answers by itself.
#[derive(Debug, PartialEq)]
pub enum Miss {
    /// No route has this path (404) or it lacks this method (405, with the
    /// methods it has).
    Refused(Problem, Option<&'static str>),
    /// The path matches a route once its trailing slash is toggled: a 307
    /// to that path, as FastAPI's router does.
    Redirect(String),
}

/// Matches a request. `path` is the raw path (no query), percent-encoded.
pub fn resolve(method: &str, path: &str) -> Result<Route, Miss> {
    // Routes match on the decoded path, so an encoded slash splits segments
    // and `/status/a%2Fb` matches nothing, as in FastAPI.
    let Ok(decoded) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return Err(Miss::Refused(Problem::NoRoute, None));
    };
    match table(&decoded) {
        Some((allow, route)) if allow.split(", ").any(|m| m == method) => Ok(route),
        Some((allow, _)) => Err(Miss::Refused(Problem::MethodNotAllowed, Some(allow))),
        None => {
            let toggled = match decoded.strip_suffix('/') {
                Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
                Some(_) => return Err(Miss::Refused(Problem::NoRoute, None)),
                None => format!("{decoded}/"),
            };
            match table(&toggled) {
                Some(_) => Err(Miss::Redirect(toggled)),
                None => Err(Miss::Refused(Problem::NoRoute, None)),
            }
        }
    }
}

/// The route table: path → (allowed methods, route).
fn table(path: &str) -> Option<(&'static str, Route)> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let id = |text: &str| TaskId::parse(text);
    Some(match segments.as_slice() {
        // The submit routes answer with and without the trailing slash.
        ["notify"] | ["notify", ""] => ("POST", Route::Submit(TaskKind::Notification)),
        ["report"] | ["report", ""] => ("POST", Route::Submit(TaskKind::Report)),
        ["file"] | ["file", ""] => ("POST", Route::Submit(TaskKind::File)),
        ["http"] | ["http", ""] => ("POST", Route::Submit(TaskKind::Http)),
        ["status", task] if !task.is_empty() => ("GET", Route::Status(id(task))),
        ["retry-task", task] if !task.is_empty() => ("POST", Route::Retry(id(task))),
        ["cancel-task", task] if !task.is_empty() => ("POST", Route::Cancel(id(task))),
        ["tasks"] => ("GET", Route::List),
        ["tasks", task] if !task.is_empty() => ("DELETE", Route::Delete(id(task))),
        ["outputs", file] => {
            let task = file.strip_suffix(".json")?;
            ("GET", Route::Output(id(task)))
        }
        ["healthz"] => ("GET", Route::Health),
        ["openapi.json"] => ("GET", Route::OpenApi),
        [""] => ("GET", Route::Page),
        ["playground", rest @ ..] if asset_path(rest) => ("GET", Route::Asset(rest.join("/"))),
        _ => return None,
    })
}

/// Whether `segments` name a file inside the playground's directory:
/// every segment a plain name, none hidden or climbing out.
fn asset_path(segments: &[&str]) -> bool {
    !segments.is_empty()
        && segments.iter().all(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70";

    #[test]
    fn submit_routes_answer_with_and_without_the_slash() {
        for path in ["/notify", "/notify/"] {
            assert_eq!(
                resolve("POST", path),
                Ok(Route::Submit(TaskKind::Notification))
            );
        }
        assert_eq!(resolve("POST", "/file/"), Ok(Route::Submit(TaskKind::File)));
        assert_eq!(
            resolve("GET", "/report/"),
            Err(Miss::Refused(Problem::MethodNotAllowed, Some("POST")))
        );
    }

    #[test]
    fn task_routes_parse_ids_and_name_no_task_for_a_malformed_one() {
        let id = TaskId::parse(ID);
        assert_eq!(
            resolve("GET", &format!("/status/{ID}")),
            Ok(Route::Status(id))
        );
        assert_eq!(
            resolve("POST", &format!("/retry-task/{ID}")),
            Ok(Route::Retry(id))
        );
        assert_eq!(
            resolve("GET", &format!("/outputs/{ID}.json")),
            Ok(Route::Output(id))
        );
        assert_eq!(resolve("GET", "/status/nope"), Ok(Route::Status(None)));
        assert_eq!(resolve("GET", "/status/%2e%2e"), Ok(Route::Status(None)));
    }

    #[test]
    fn unknown_paths_and_encoded_slashes_get_the_routers_404() {
        for path in [
            "/nope",
            "/status/a%2Fb",
            "/status/",
            "/outputs/x.txt",
            "/%ff",
            "/playground/../Cargo.toml",
            "/playground/%2e%2e/x",
            "/playground/.hidden",
            "/playground/",
        ] {
            assert_eq!(
                resolve("GET", path),
                Err(Miss::Refused(Problem::NoRoute, None)),
                "{path}"
            );
        }
    }

    #[test]
    fn the_page_and_its_assets_have_routes() {
        assert_eq!(resolve("GET", "/"), Ok(Route::Page));
        assert_eq!(
            resolve("GET", "/playground/pkg/bgtasks_web_bg.wasm"),
            Ok(Route::Asset("pkg/bgtasks_web_bg.wasm".into()))
        );
    }

    #[test]
    fn a_toggled_trailing_slash_redirects_like_fastapi() {
        assert_eq!(
            resolve("GET", "/tasks/"),
            Err(Miss::Redirect("/tasks".into()))
        );
        assert_eq!(
            resolve("GET", &format!("/status/{ID}/")),
            Err(Miss::Redirect(format!("/status/{ID}")))
        );
    }
}

#[cfg(test)]
mod openapi_tests {
    use super::*;

    /// Every operation the description names is served by the route table,
    /// and every kind of route is described.
    #[test]
    fn the_openapi_description_and_the_route_table_agree() {
        let doc: serde_json::Value =
            serde_json::from_slice(include_bytes!("../openapi.json")).unwrap();
        let id = "6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70";
        let mut kinds = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let concrete = path.replace("{task_id}", id);
            for method in item.as_object().unwrap().keys() {
                let route = resolve(&method.to_uppercase(), &concrete)
                    .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
                kinds.insert(format!("{route:?}").split('(').next().unwrap().to_owned());
            }
        }
        // The page and its assets are not API routes.
        let all = [
            "Submit", "Status", "Retry", "Cancel", "List", "Delete", "Output", "Health", "OpenApi",
        ];
        assert_eq!(kinds, all.iter().map(|s| s.to_string()).collect());
    }
}
