"""SMS blasts: campaign files and campaigns, lifecycle, schedules and the tick, planning, preview,
eligibility, send windows, dispatch, delivery, reconcile, rate limiting and reports."""
