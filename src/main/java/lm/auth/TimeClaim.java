package lm.auth;

import java.math.BigDecimal;

/**
 * A JWT time claim (exp, nbf, iat: seconds since 1970, RFC 7519 NumericDate) read safely. A
 * value beyond year 9999 is no date a token can mean, and in milliseconds it overflowed a long
 * (exp 1e30 was a 500 with a stack trace, issue 20): such a token is malformed, hence a 401.
 */
final class TimeClaim {
    /** 9999-12-31T23:59:59Z. */
    static final long MAX_SECONDS = 253_402_300_799L;

    private TimeClaim() {}

    /**
     * The whole seconds of {@code value} (a fraction is allowed and dropped), or null when it is
     * not a number from 0 to {@link #MAX_SECONDS}.
     */
    static Long seconds(Object value) {
        if (!(value instanceof Number n)) {
            return null;
        }
        BigDecimal d;
        try {
            // via text: a Double's 1e300 and a LazilyParsedNumber compare exactly, NaN and ∞ fail
            d = new BigDecimal(n.toString());
        } catch (NumberFormatException e) {
            return null;
        }
        if (d.signum() < 0 || d.compareTo(BigDecimal.valueOf(MAX_SECONDS)) > 0) {
            return null;
        }
        return d.longValue();
    }
}
