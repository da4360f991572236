from django.contrib import admin

admin.site.site_header = "PNS Admin"
admin.site.site_title = "PNS Admin"
admin.site.index_title = "Administration"
