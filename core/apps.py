from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The pure core: condition engine, text folding, business-time maths, shared condition fields (abstract)."""

    name = "core"
    verbose_name = "Core"
