"""`/api/v1/auth/token/`: an API token for a username and password, and its revocation.

POST with a username and password answers the caller's token (201 when one was
made, 200 when they had one). DELETE revokes the caller's token; POST
`rotate/` replaces it. Failed passwords are counted by django-axes (per
username and address, in the shared cache): past AXES_FAILURE_LIMIT the
answer is 429 with Retry-After until the cool-off ends, whatever the password.
Every request to the endpoint is also throttled per address (TokenRequestThrottle).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .api_errors import ErrorSerializer
from .throttles import TokenRequestThrottle


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, write_only=True, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
    user = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


def _body(token: Token) -> dict:
    return {"token": token.key, "user": token.user_id, "username": token.user.get_username()}


def _cool_off_seconds() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds()))


class ObtainTokenView(APIView):
    throttle_classes = [TokenRequestThrottle]

    @extend_schema(
        request=CredentialsSerializer,
        responses={200: TokenSerializer, 201: TokenSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
                   429: OpenApiResponse(ErrorSerializer, description="Too many attempts; see Retry-After.")},
        auth=[],
    )
    def post(self, request):
        """Exchange a username and password for the caller's API token."""
        serializer = CredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        django_request = request._request  # axes marks lockouts on the Django request
        user = authenticate(django_request, username=serializer.validated_data["username"],
                            password=serializer.validated_data["password"])
        if getattr(django_request, "axes_locked_out", False):
            raise Throttled(wait=_cool_off_seconds(), detail="Too many failed sign-ins for this account.")
        if user is None:
            raise AuthenticationFailed("Unable to sign in with these credentials.")
        token, created = Token.objects.get_or_create(user=user)
        return Response(_body(token), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={204: None, 401: ErrorSerializer})
    def delete(self, request):
        """Revoke the caller's token (sign out of API clients)."""
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_authenticators(self):
        # POST takes credentials in the body (no session, so no CSRF); DELETE needs the
        # token or session it revokes.
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    def get_authenticate_header(self, request):
        return "Token"  # a wrong password is a 401 that says what the API expects, not a 403

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]


class RotateTokenView(APIView):
    @extend_schema(request=None, responses={201: TokenSerializer, 401: ErrorSerializer})
    @transaction.atomic
    def post(self, request):
        """Replace the caller's token with a new one; the old one stops working at once."""
        Token.objects.filter(user=request.user).delete()
        return Response(_body(Token.objects.create(user=request.user)), status=status.HTTP_201_CREATED)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer once an account is locked out: 429 with Retry-After, JSON under /api/."""
    detail = "Too many failed sign-ins. Try again later."
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"detail": detail, "errors": {}}, status=429)
    else:
        response = HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(_cool_off_seconds())
    return response
