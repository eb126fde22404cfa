//! Patchline's hermetic test harness: real packages, real repositories and
//! isolated node roots driven by the real package managers (dpkg/apt-get,
//! rpm/dnf, zypper), without touching the host's own package databases.
//!
//! # Pieces
//!
//! | Piece | Type | Built with |
//! |---|---|---|
//! | `.deb` packages | [`DebPackage`] → [`BuiltDeb`] | `dpkg-deb --build --root-owner-group -Zgzip -z1` |
//! | `.rpm` packages | [`RpmPackage`] → [`BuiltRpm`] | `rpmbuild -bb`, generated spec, private `_topdir` |
//! | apt repository | [`AptRepository`], [`AptSuite`], [`AptSource`] | `apt-ftparchive packages` / `release` |
//! | rpm-md repository | [`RpmRepository`], [`Advisory`] | `createrepo_c`, `modifyrepo_c --mdtype=updateinfo` |
//! | Debian/Ubuntu root | [`AptRoot`] | skeleton + `APT_CONFIG` (see below) |
//! | RHEL/Rocky root | [`DnfRoot`] | skeleton + rpmdb + `dnf --installroot` |
//! | openSUSE root | [`ZypperRoot`] | skeleton + rpmdb + `zypper --root` |
//! | host guard | [`HostSnapshot`] | fingerprints of the host's package state |
//!
//! Every root implements [`PackageRoot`]: `refresh`, `install`,
//! `install_version`, `install_files` (dpkg -i / rpm -U) and `installed`
//! (read back with `dpkg-query --admindir` / `rpm --root -qa`). Each also
//! hands out preconfigured commands (`apt_get()`, `dpkg()`, `dnf()`,
//! `zypper()`, `rpm()`) and the environment/arguments behind them (`env()`,
//! `dnf_args()`, `zypper_args()`) for package-manager drivers that build
//! their own command lines. [`CommandOutput`] keeps the exit code, stdout and
//! stderr; a non-zero exit is only an error where asked (`ensure_success`,
//! `ensure_code(&[0, 100])`), because some exits carry meaning.
//!
//! Everything is built into directories the test owns (a `tempfile`
//! directory); nothing is cached globally. Publishing a repository replaces
//! its content, so "publish v1, install, publish v2, refresh, upgrade" is
//! plain calls:
//!
//! ```no_run
//! use patchline_testkit::{AptRepository, AptRoot, AptRootOptions, AptSuite, DebPackage, PackageRoot};
//! # fn main() -> patchline_testkit::Result<()> {
//! let dir = std::path::Path::new("/tmp/test-dir");
//! let v1 = DebPackage::new("kit", "1.0-1").build(&dir.join("debs"))?;
//! let v2 = DebPackage::new("kit", "1.0-2").postinst("echo upgraded").build(&dir.join("debs"))?;
//! let mut repo = AptRepository::new(dir.join("repo"))?;
//! repo.publish(&[AptSuite::new("stable").with_packages([&v1])])?;
//! let root = AptRoot::create(dir.join("node"), &AptRootOptions {
//!     sources: repo.sources(),
//!     ..AptRootOptions::default()
//! })?;
//! root.refresh()?;
//! root.install(&["kit"])?;
//! repo.publish(&[
//!     AptSuite::new("stable").with_packages([&v1]),
//!     AptSuite::security("stable-security").with_packages([&v2]),
//! ])?;
//! root.set_sources(&repo.sources())?;
//! root.refresh()?;
//! root.install_version("kit", "1.0-2")?;
//! assert_eq!(root.installed_version("kit")?.as_deref(), Some("1.0-2"));
//! # Ok(()) }
//! ```
//!
//! # Requirements
//!
//! Root privileges (dpkg and rpm chroot into the node root for maintainer
//! scripts and set ownership; creating a root without them is a
//! [`TestkitError::NotRoot`]), and the Debian packages `dpkg`, `apt`,
//! `apt-utils`, `rpm`, `createrepo-c`, `dnf`, `zypper`, `busybox-static`
//! (`scripts/test` installs them). A missing tool is a
//! [`TestkitError::MissingTool`] naming the package to install: tests fail,
//! they never skip.
//!
//! # Node roots: the approach and why
//!
//! Measured on the 2-core CI-sized VM (busy with other builds), seconds to
//! get a usable Debian root:
//!
//! | Approach | Time |
//! |---|---|
//! | `debootstrap --variant=minbase bookworm` (network mirror) | 72 s |
//! | `mmdebstrap --variant=essential bookworm` (network mirror, 140 MB tarball) | 11.8 s |
//! | extracting that cached mmdebstrap tarball | 4.8 s |
//! | **skeleton + busybox + apt option set (chosen)**: [`AptRoot::create`] | **0.07–0.10 s** |
//! | same for [`DnfRoot::create`] / [`ZypperRoot::create`] (incl. rpmdb and base package) | 0.19–0.22 s |
//!
//! A skeleton root is a directory tree with an os-release, an empty dpkg
//! database or an initialised rpmdb, the package manager's configuration
//! pointing at the root only, and a static busybox as `/bin/sh` with the
//! [`roots::SHELL_APPLETS`] (maintainer scripts run chrooted, so a `postinst`
//! can `sleep 600` to be interrupted or `exit 1` to fail). It needs no
//! network and no cache, and the real tools treat it like any system: the
//! installed packages are exactly the ones the test installs. What it is
//! not: a bootable system — packages that need real system tools in their
//! scripts (`adduser`, `systemctl`) do not belong in these tests.
//!
//! The option sets (details in each root's module documentation):
//!
//! - **apt**: `APT_CONFIG=<root>/etc/apt/apt-root.conf` with `Dir "<root>/"`,
//!   `Dir::State::status`, `DPkg::Options { --root; --log; --force-unsafe-io }`,
//!   explicit `APT::Architectures`, `APT::Sandbox::User "root"`, no date checks.
//!   `-o` options alone are not enough: they come after the host's
//!   `apt.conf.d` (with its `Post-Invoke` hooks) is read.
//! - **dnf**: `--installroot --releasever --config=<root>/etc/dnf/dnf.conf
//!   --setopt=reposdir=<root>/etc/yum.repos.d --noplugins`, `HOME=<root>/root`
//!   whose `.rpmmacros` sets `%_dbpath` (Debian's rpm defaults to `~/.rpmdb`,
//!   and dnf takes the path from rpm's macros), `metadata_expire=0`.
//! - **zypper**: `--root --non-interactive --no-gpg-checks` plus `ZYPP_CONF`,
//!   `ZYPP_LOGFILE`, `ZYPP_LOCKFILE_ROOT`, `ZYPPTMPDIR`, `HOME` pointing into
//!   the root; rpmdb in `/usr/lib/sysimage/rpm` as on Leap 15.
//! - rpm roots start with [`roots::BASE_PACKAGE`], which provides `/bin/sh`
//!   (rpm makes shell scriptlets require it).
//!
//! [`HostSnapshot`] and the `host_untouched` test check that a full cycle on
//! all three families leaves the host's dpkg status (byte for byte), apt,
//! rpm, dnf and zypper state unchanged. The host files the tools still
//! *read*: dpkg's `/etc/dpkg/dpkg.cfg.d` and zypper's `/etc/zypp/zypper.conf`.
//!
//! # Packages: speed
//!
//! `cargo run -p patchline-testkit --example timings` (medians over 10, same
//! busy VM, load ~2.7 on 2 cores): a one-file `.deb` with a postinst builds
//! in ~30–50 ms, a one-file `.rpm` with a `%post` in ~115 ms (~50–70 ms on
//! an idle machine; rpmbuild's own start-up is most of it — its defaults,
//! brp scripts, debuginfo, build-dependency check, made it ~200 ms idle
//! before the defines in [`rpm`]). The whole testkit suite (10 end-to-end
//! tests over 16 roots) runs in 5–15 s of wall time, compiled.

pub mod apt_repo;
pub mod command;
pub mod deb;
pub mod error;
pub mod host;
pub mod roots;
pub mod rpm;
pub mod rpm_repo;
mod staging;
pub mod updateinfo;

pub use apt_repo::{AptRepository, AptSource, AptSuite};
pub use command::{CommandOutput, Tool};
pub use deb::{BuiltDeb, DebPackage, DebScript};
pub use error::{Result, TestkitError};
pub use host::HostSnapshot;
pub use roots::{
    AptRoot, AptRootOptions, DnfRoot, DnfRootOptions, InstalledPackage, OsRelease, PackageRoot,
    RpmRepoEntry, ZypperRoot, ZypperRootOptions,
};
pub use rpm::{BuiltRpm, RpmPackage, RpmScript};
pub use rpm_repo::RpmRepository;
pub use updateinfo::{Advisory, AdvisoryKind, AdvisoryPackage, UpdateinfoStyle};
