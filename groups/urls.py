from django.urls import path

from groups import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("search/", views.search, name="search"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("t/<slug:slug>/", views.tenant_detail, name="tenant_detail"),
    path("t/<slug:slug>/refresh/", views.tenant_refresh, name="tenant_refresh"),
    path("t/<slug:slug>/syncs/", views.sync_history, name="sync_history"),
    path("t/<slug:slug>/groups/<str:group_id>/", views.group_detail, name="group_detail"),
]
