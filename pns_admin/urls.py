from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from groups import views

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/", views.two_factor_page, name="two_factor"),
    path("accounts/2fa/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("accounts/2fa/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the header's switch
    path("", include("groups.urls")),
]
