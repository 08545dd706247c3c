from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "jointly.ops"
    label = "ops"
    verbose_name = "Operations"
