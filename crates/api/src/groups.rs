//! Patch groups: a `Patch Group` tag value mapped to one baseline per OS
//! family. A node whose group has no baseline for its family, or that has no
//! group, uses its family's default baseline.

use std::collections::BTreeMap;

use patchline_core::os::OsFamily;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `PUT /api/v1/patch-groups/{name}` and element of the listing.
/// Every named baseline must exist and be of the family it is listed under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchGroup {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub baselines: BTreeMap<OsFamily, String>,
}
