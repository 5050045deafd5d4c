package com.acme.blog;

import java.text.Normalizer;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/** URL slugs for blog posts: lower-case ASCII letters, digits and single dashes. */
public final class Slugs {
    private static final Pattern COMBINING_MARKS = Pattern.compile("\\p{M}+");
    private static final Pattern NOT_SLUG = Pattern.compile("[^a-z0-9]+");
    private static final int MAX_LENGTH = 80;

    private Slugs() {
    }

    /**
     * "Crème Brûlée: 10 Tips!" becomes "creme-brulee-10-tips". Accents are folded, everything that
     * is not a letter or digit becomes one dash, dashes are trimmed at both ends, and the result is
     * cut at a dash so it stays within 80 characters. Never empty: "post" when nothing is left.
     */
    public static String slugify(String title) {
        Objects.requireNonNull(title, "title");
        String folded = COMBINING_MARKS.matcher(Normalizer.normalize(title, Normalizer.Form.NFD))
            .replaceAll("");
        String slug = NOT_SLUG.matcher(folded.toLowerCase(Locale.ROOT)).replaceAll("-");
        slug = trimDashes(slug);
        if (slug.length() > MAX_LENGTH) {
            int cut = slug.lastIndexOf('-', MAX_LENGTH);
            slug = trimDashes(slug.substring(0, cut > 0 ? cut : MAX_LENGTH));
        }
        return slug.isEmpty() ? "post" : slug;
    }

    /** A slug not yet taken: the plain slug, else slug-2, slug-3, ... up to slug-1000. */
    public static String unique(String title, Predicate<String> taken) {
        String base = slugify(title);
        if (!taken.test(base)) {
            return base;
        }
        for (int n = 2; n <= 1000; n++) {
            String candidate = base + "-" + n;
            if (!taken.test(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("no free slug for " + base + " up to -1000");
    }

    private static String trimDashes(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && s.charAt(start) == '-') {
            start++;
        }
        while (end > start && s.charAt(end - 1) == '-') {
            end--;
        }
        return s.substring(start, end);
    }
}
