from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review and agreement"

    def ready(self):
        """Hook the review side into the annotation app without it importing us: gold submissions
        are scored on submit, and quality numbers join the workforce statistics."""
        from annotation.signals import gold_submitted
        from annotation.stats import QUALITY_PROVIDERS

        from .selectors import annotator_quality
        from .services.gold import on_gold_submitted

        gold_submitted.connect(on_gold_submitted, dispatch_uid="review.score_gold_submission")
        if annotator_quality not in QUALITY_PROVIDERS:
            QUALITY_PROVIDERS.append(annotator_quality)
