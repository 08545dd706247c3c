from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jointly.jobs"
    label = "jobs"
    verbose_name = "Background jobs"
