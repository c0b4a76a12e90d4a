//! The real Spin CLI as the runtime of a test, where one is installed.
//!
//! [`SpinProcess::start`] runs `spin up` for a [`HostConfig`]: a manifest
//! for its component (the project's own `spin.toml`, its paths made
//! absolute, when the config names it), a runtime config that puts the
//! `default` store where the config says (a SQLite file, memory, or a
//! Redis URL), its variables as `SPIN_VARIABLE_*`, a free loopback port, and
//! a private directory for Spin's state and logs. The process leads its own
//! process group: [`SpinProcess::kill`] sends SIGTERM to the group, and
//! dropping it sends SIGKILL, so no `spin` outlives its test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::HostConfig;
use crate::kv::Kv;

/// The `spin` binary to use: `BGTASKS_SPIN` if set, else `spin` on `PATH`,
/// if it is version 4.1 or later. `None` when there is none.
pub fn spin_binary() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let path = std::env::var_os("BGTASKS_SPIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("spin"));
            let out = Command::new(&path).arg("--version").output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            supported_version(&text).then_some(path)
        })
        .clone()
}

/// Whether `spin --version` output names 4.1 or later (pre-releases of 4.1
/// included: they are what the notes were measured on).
fn supported_version(text: &str) -> bool {
    let Some(version) = text.split_whitespace().nth(1) else {
        return false;
    };
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (4, 1),
        _ => false,
    }
}

/// A running `spin up`.
pub struct SpinProcess {
    child: std::process::Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl SpinProcess {
    /// Starts `spin up` for `config` and waits until it accepts connections.
    pub async fn start(config: &HostConfig) -> anyhow::Result<SpinProcess> {
        let spin = spin_binary().context("no `spin` 4.1 or later on PATH")?;
        if !config.has_default_flaws() {
            bail!("a test that sets flaws needs the test host, not Spin");
        }
        let dir = private_dir()?;
        let manifest = dir.join("spin.toml");
        std::fs::write(&manifest, manifest_text(config, &dir)?)?;
        let runtime_config = dir.join("runtime-config.toml");
        std::fs::write(&runtime_config, runtime_config_text(&config.kv))?;
        let port = crate::redis_server::free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.join("spin.log"))?;
        let mut command = Command::new(spin);
        command
            .arg("up")
            .arg("--from")
            .arg(&manifest)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--runtime-config-file")
            .arg(&runtime_config)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--log-dir")
            .arg(dir.join("logs"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (name, value) in &config.variables {
            command.env(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value);
        }
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                // Killed with the thread that started it (a test's runtime
                // thread), should the test process die without dropping it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().context("cannot run spin up")?;
        let mut process = SpinProcess { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(process);
            }
            if let Some(status) = process.child.try_wait()? {
                bail!(
                    "spin up exited ({status}) before serving:\n{}",
                    process.log()
                );
            }
            if Instant::now() > deadline {
                bail!("spin up did not serve within 60 s:\n{}", process.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The address `spin up` listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What Spin printed so far (its own log and the component's output).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("spin.log")).unwrap_or_default()
    }

    /// SIGTERM to the whole process group, as Ctrl-C or a supervisor stops
    /// Spin; returns once it has exited (SIGKILL after 10 s).
    pub async fn kill(mut self) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, signal: libc::c_int) {
        // The child leads its own group: negative pid signals all of it.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a process group id we created.
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn private_dir() -> anyhow::Result<PathBuf> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("bgtasks-spin-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The manifest: the project's own (`HostConfig::spin_manifest`) with its
/// component source and `files` pointed at the config's, or a minimal one.
/// Spin mounts only directories inside the application's directory `dir`,
/// so the config's are copied there.
fn manifest_text(config: &HostConfig, dir: &Path) -> anyhow::Result<String> {
    let source = absolute(&config.wasm)?;
    let files = config
        .files
        .iter()
        .enumerate()
        .map(|(n, (host, guest))| {
            let copy = format!("files/{n}");
            copy_dir(host, &dir.join(&copy))?;
            Ok(format!(
                "{{ source = {}, destination = {} }}",
                toml_string(&copy),
                toml_string(guest)
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .join(", ");
    if let Some(project) = &config.spin_manifest {
        let text = std::fs::read_to_string(project)
            .with_context(|| format!("read {}", project.display()))?;
        return rewrite_project_manifest(&text, &source, &files);
    }
    let variables: String = config
        .variables
        .iter()
        .map(|(name, _)| format!("{name} = {{ required = true }}\n"))
        .collect();
    let mapped: String = config
        .variables
        .iter()
        .map(|(name, _)| format!("{name} = \"{{{{ {name} }}}}\"\n"))
        .collect();
    Ok(format!(
        r#"spin_manifest_version = 2

[application]
name = "bgtasks-test"

[variables]
{variables}
[[trigger.http]]
route = "/..."
component = "main"

[component.main]
source = {source}
key_value_stores = ["default"]
files = [{files}]

[component.main.variables]
{mapped}"#,
        source = toml_string(&source.to_string_lossy()),
    ))
}

/// Replaces the `source = ..` of the component and its `files = [..]` in
/// the project's manifest, refusing a manifest where either is not found.
fn rewrite_project_manifest(text: &str, source: &Path, files: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    let (mut sources, mut file_lines) = (0, 0);
    let mut section = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        let in_component = section.starts_with("[component.") && !section.contains(".build]");
        if in_component && trimmed.starts_with("source = ") {
            out.push_str(&format!(
                "source = {}\n",
                toml_string(&source.to_string_lossy())
            ));
            sources += 1;
        } else if in_component && trimmed.starts_with("files = ") {
            out.push_str(&format!("files = [{files}]\n"));
            file_lines += 1;
        } else if section.ends_with(".build]") {
            // `spin up` runs no build; the section is left out.
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if sources != 1 || file_lines != 1 {
        bail!("spin.toml: expected one component `source` and one `files` line");
    }
    Ok(out)
}

fn runtime_config_text(kv: &Kv) -> String {
    match kv {
        Kv::Memory => "[key_value_store.default]\ntype = \"spin\"\n".to_owned(),
        Kv::Sqlite(path) => format!(
            "[key_value_store.default]\ntype = \"spin\"\npath = {}\n",
            toml_string(&path.to_string_lossy())
        ),
        Kv::Redis(url) => format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = {}\n",
            toml_string(url)
        ),
    }
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("absolute path of {}", path.display()))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_4_1_are_supported() {
        assert!(supported_version("spin 4.1.0 (abc 2026-01-01)"));
        assert!(supported_version("spin 4.1.0-pre0 (94a8fc8 2026-11-30)"));
        assert!(supported_version("spin 5.0.2"));
        assert!(!supported_version("spin 4.0.3"));
        assert!(!supported_version("spin 3.6.0"));
        assert!(!supported_version("command not found"));
    }

    #[test]
    fn the_project_manifest_is_pointed_at_the_built_component() {
        let text = "spin_manifest_version = 2\n[component.bgtasks]\nsource = \"target/x.wasm\"\nfiles = [{ source = \"web-demo/dist\", destination = \"/playground\" }]\n[component.bgtasks.build]\ncommand = \"bash build.sh\"\n";
        let out = rewrite_project_manifest(text, Path::new("/abs/x.wasm"), "").unwrap();
        assert!(out.contains("source = \"/abs/x.wasm\""), "{out}");
        assert!(out.contains("files = []"), "{out}");
        assert!(!out.contains("build.sh"), "{out}");
        assert!(rewrite_project_manifest("[component.a]\n", Path::new("/x"), "").is_err());
    }
}
