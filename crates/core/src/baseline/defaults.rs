//! Built-in baselines: the default per OS family (used by nodes whose patch
//! group names no baseline) and the emergency baseline behind "Patch now".

use super::{ApprovalRule, ApprovedPatches, Baseline, ComplianceLevel, FilterKey, RejectedPatches};
use crate::compliance::ComplianceStatus;
use crate::os::OsFamily;

impl Baseline {
    /// The default baseline of a family, mirroring the well-known cloud
    /// defaults; every rule has compliance level `unspecified`:
    ///
    /// | family | rules |
    /// |---|---|
    /// | debian, ubuntu | all `security` updates, any priority (or none), after 0 days |
    /// | rhel-compatible, amazon-linux, fedora, suse | `security` with severity `critical` or `important`, after 7 days; and all `bugfix` updates, after 7 days |
    ///
    /// No explicit lists; available security updates do not affect
    /// compliance.
    pub fn default_for(family: OsFamily) -> Baseline {
        let level = ComplianceLevel::Unspecified;
        let approval_rules = if family.is_debian_like() {
            vec![ApprovalRule::after_days(
                0,
                level,
                false,
                [
                    (FilterKey::Classification, &["security"][..]),
                    (FilterKey::Priority, &["*"][..]),
                ],
            )]
        } else {
            vec![
                ApprovalRule::after_days(
                    7,
                    level,
                    false,
                    [
                        (FilterKey::Classification, &["security"][..]),
                        (FilterKey::Severity, &["critical", "important"][..]),
                    ],
                ),
                ApprovalRule::after_days(
                    7,
                    level,
                    true,
                    [(FilterKey::Classification, &["bugfix"][..])],
                ),
            ]
        };
        Baseline {
            name: format!("patchline-default-{family}"),
            description: format!("Patchline's default baseline for {family} nodes."),
            os_family: family,
            approval_rules,
            approved_patches: ApprovedPatches::default(),
            rejected_patches: RejectedPatches::default(),
            available_security_updates_compliance: ComplianceStatus::Compliant,
        }
    }

    /// The emergency baseline used by "Patch now": one rule approving every
    /// update (any classification, security or not) on its release day, at
    /// compliance level `critical`.
    pub fn emergency(family: OsFamily) -> Baseline {
        Baseline {
            name: format!("patchline-emergency-{family}"),
            description: format!("Approves every update at once on {family} nodes (Patch now)."),
            os_family: family,
            approval_rules: vec![ApprovalRule::after_days(
                0,
                ComplianceLevel::Critical,
                true,
                [],
            )],
            approved_patches: ApprovedPatches::default(),
            rejected_patches: RejectedPatches::default(),
            available_security_updates_compliance: ComplianceStatus::Compliant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_baselines_validate_for_every_family() {
        for family in OsFamily::ALL {
            Baseline::default_for(family).validate().unwrap();
            Baseline::emergency(family).validate().unwrap();
        }
    }
}
