"""Roles: the "Sales manager" group, kept in step with the models on every migrate."""

from django.contrib.auth.models import Group, Permission

SALES_MANAGER_GROUP = "Sales manager"

# Models a sales manager runs routing with: full rights on these; of the users, only a read.
SALES_MANAGER_MODELS = {
    "reps": None,
    "routing": None,
    "sla": None,
    "notifications": None,
    "auth": {"user"},
}


def sales_manager_group_sync() -> Group:
    """The "Sales manager" group: exactly the permissions needed to run routing."""
    group, _ = Group.objects.get_or_create(name=SALES_MANAGER_GROUP)
    perms = []
    for app_label, only in SALES_MANAGER_MODELS.items():
        qs = Permission.objects.filter(content_type__app_label=app_label)
        if only is not None:
            qs = qs.filter(content_type__model__in=only, codename__startswith="view_")
        perms.extend(qs)
    group.permissions.set(perms)
    return group


def sync_roles_after_migrate(sender, **kwargs) -> None:
    """post_migrate: permissions exist only after migrate, so the group is (re)synced then."""
    sales_manager_group_sync()
