from django.core.management.base import BaseCommand

from annotation.services.presets import load_presets


class Command(BaseCommand):
    help = "Create the shipped skeleton presets (COCO-17, hand-21, AP-10K animal, face-68). Safe to run again."

    def handle(self, *args, **options):
        for skeleton, created in load_presets():
            state = "created" if created else "up to date"
            self.stdout.write(f"{skeleton} ({skeleton.keypoints.count()} keypoints): {state}")
