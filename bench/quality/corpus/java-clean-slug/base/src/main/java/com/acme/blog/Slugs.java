package com.acme.blog;

public final class Slugs {
    private Slugs() {
    }

    public static String slugify(String title) {
        return title.toLowerCase().replace(' ', '-');
    }
}
