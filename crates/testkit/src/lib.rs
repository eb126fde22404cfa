//! Patchline's hermetic test harness (docs completed below).

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
