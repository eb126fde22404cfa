//! One approval rule compiled for evaluation: filters as masks and glob
//! sets, the delay as a cut-off date computed once per evaluation day.
//!
//! An update is approved by a rule when
//! 1. the node's product matches the `product` filter (checked once per
//!    node, not per update);
//! 2. the update is `security`, or the rule has `include-non-security`;
//! 3. every other filter matches;
//! 4. it is old enough: `release-date + approve-after-days <= today`
//!    (whole days; 0 means "on its release day"), or
//!    `release-date <= approve-until-date` (inclusive).

use jiff::ToSpan;
use jiff::civil::Date;

use super::filter::{EnumFilter, FilterPlace, TextFilter};
use super::{ApprovalRule, BaselineError, ComplianceLevel, FilterKey, MAX_APPROVE_AFTER_DAYS};
use crate::os::OsFamily;
use crate::package::{Classification, DebPriority, Severity, Update};

#[derive(Debug, Clone, Copy)]
enum Delay {
    AfterDays(u32),
    UntilDate(Date),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    product: Option<TextFilter>,
    classification: Option<EnumFilter>,
    severity: Option<EnumFilter>,
    priority: Option<EnumFilter>,
    section: Option<TextFilter>,
    name: Option<TextFilter>,
    delay: Delay,
    pub level: ComplianceLevel,
    include_non_security: bool,
}

impl CompiledRule {
    pub fn compile(
        rule_index: usize,
        rule: &ApprovalRule,
        family: OsFamily,
    ) -> Result<CompiledRule, BaselineError> {
        let delay = match (rule.approve_after_days, rule.approve_until_date) {
            (Some(_), Some(_)) => return Err(BaselineError::BothDelays { rule: rule_index }),
            (None, None) => return Err(BaselineError::MissingDelay { rule: rule_index }),
            (Some(days), None) if days > MAX_APPROVE_AFTER_DAYS => {
                return Err(BaselineError::DaysOutOfRange {
                    rule: rule_index,
                    days,
                });
            }
            (Some(days), None) => Delay::AfterDays(days),
            (None, Some(date)) => Delay::UntilDate(date),
        };
        let mut compiled = CompiledRule {
            product: None,
            classification: None,
            severity: None,
            priority: None,
            section: None,
            name: None,
            delay,
            level: rule.compliance_level,
            include_non_security: rule.include_non_security,
        };
        for (&key, values) in &rule.filters {
            let place = FilterPlace {
                rule: rule_index,
                key,
            };
            if !key.applies_to(family) {
                return Err(BaselineError::FilterKeyNotForFamily {
                    rule: rule_index,
                    key,
                    family,
                });
            }
            if values.is_empty() {
                return Err(BaselineError::EmptyFilter {
                    rule: rule_index,
                    key,
                });
            }
            match key {
                FilterKey::Product => {
                    compiled.product = Some(TextFilter::compile(place, values, true)?);
                }
                FilterKey::Classification => {
                    compiled.classification =
                        Some(EnumFilter::compile::<Classification>(place, values)?);
                }
                FilterKey::Severity => {
                    compiled.severity = Some(EnumFilter::compile::<Severity>(place, values)?);
                }
                FilterKey::Priority => {
                    compiled.priority = Some(EnumFilter::compile::<DebPriority>(place, values)?);
                }
                FilterKey::Section => {
                    compiled.section = Some(TextFilter::compile(place, values, true)?);
                }
                FilterKey::Name => {
                    compiled.name = Some(TextFilter::compile(place, values, false)?);
                }
            }
        }
        Ok(compiled)
    }

    /// The newest release date this rule approves on `today` for a node
    /// with `product`; `None` when the rule does not apply to the node.
    pub fn latest_approved_release(&self, product: &str, today: Date) -> Option<Date> {
        if self.product.as_ref().is_some_and(|f| !f.matches(product)) {
            return None;
        }
        Some(match self.delay {
            Delay::AfterDays(days) => today.saturating_sub(i64::from(days).days()),
            Delay::UntilDate(until) => until.min(today),
        })
    }

    /// Whether the update passes the classification gate and every filter
    /// (dates are checked by the caller against [`Self::latest_approved_release`]).
    #[inline]
    pub fn matches(&self, update: &Update) -> bool {
        if !self.include_non_security && update.classification != Classification::Security {
            return false;
        }
        self.classification
            .is_none_or(|f| f.matches(update.classification))
            && self.severity.is_none_or(|f| f.matches(update.severity))
            && self
                .priority
                .is_none_or(|f| f.matches_option(update.priority))
            && self
                .section
                .as_ref()
                .is_none_or(|f| f.matches_section(update.section.as_deref()))
            && self.name.as_ref().is_none_or(|f| f.matches(&update.name))
    }
}
