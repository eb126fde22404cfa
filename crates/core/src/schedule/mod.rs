//! Schedule expressions of maintenance windows: cron with seconds, rate(), at(); time zones and DST.
