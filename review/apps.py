from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review and agreement"

    def ready(self):
        from annotation.signals import gold_submitted

        from .services.gold import on_gold_submitted

        gold_submitted.connect(on_gold_submitted, dispatch_uid="review.score_gold_submission")
