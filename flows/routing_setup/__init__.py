"""The routing setup as one versioned JSON document: export from staging, import in production.

The document (`{"version": 1, ...}`) holds rules with their conditions and actions, score rules with their
conditions, pools with their ordered
members, the on-duty rota, domain lists, territories, accounts, notification channels (without their URL and
secret), business calendars with opening hours and special days, SLA policies with conditions and escalation
steps, and the routing settings of reps (weight, daily cap, languages, team lead, notify via).

References use names a person can read: reps by e-mail, everything else by name. Reps themselves are not
created by an import (they are people with logins: `manage.py import_csv reps` creates them); a document that
names a rep this database does not have is refused.

Import = the database's routing setup becomes the document's:
- rules, score rules and SLA policies are matched by name, rewritten, and put in the document's order; those the
  document does not name are switched off (kept: leads point at them); every rule change is in the rule audit trail;
- territories and accounts the document does not name are deleted (they would route leads otherwise);
- pools, domain lists, calendars and channels are matched by name and brought to the document's state; others
  are left alone (they do nothing unless a rule, policy or territory uses them);
- channels keep their existing URL and secret; a new channel has none until someone sets them in the admin.
The whole document is checked first and every problem is reported; then it is applied in one transaction.

One module per step: `document` (version, sections, the plan, the error), `read` (every value of every item),
`check` (the document as a whole), `apply` (the import, one transaction), `export`.
"""

from flows.routing_setup.apply import routing_config_import
from flows.routing_setup.check import routing_config_check
from flows.routing_setup.document import VERSION, RoutingConfigError
from flows.routing_setup.export import routing_config_export

__all__ = ["VERSION", "RoutingConfigError", "routing_config_check", "routing_config_export", "routing_config_import"]
