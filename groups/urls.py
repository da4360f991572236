from django.urls import path

from groups import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("t/<slug:slug>/", views.tenant_detail, name="tenant_detail"),
]
