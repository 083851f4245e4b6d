/*
 * The judge's statistics: pure functions of numbers (docs/judge.md, "Statistics").
 *
 * Error counts are Poisson; comparing two Poisson counts with different exposures is done
 * exactly by conditioning on their sum, which turns the question into a binomial one that needs
 * no large-sample approximation — the right tool when a baseline holds zero or one error, where
 * rank tests and normal approximations mislead (kayenta #426).
 */
#include <errno.h>
#include <math.h>

#include "query/judge.h"

/* log P(X = k), X ~ Binomial(n, p), 0 < p < 1. */
static double binom_logpmf(double k, double n, double p)
{
	return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + k * log(p) + (n - k) * log1p(-p);
}

/*
 * Sum of P(X = i) for i from 'from' stepping by 'dir' (+1 or -1) while inside [0, n], starting
 * at the log-pmf 'lp0' of 'from'. Terms are updated by the pmf's ratio, and the sum stops once a
 * term no longer changes it: away from the mode the terms shrink geometrically.
 */
static double binom_tail(double from, double n, double p, int dir)
{
	double q = 1 - p, term = exp(binom_logpmf(from, n, p)), sum = 0;
	double i = from;

	for (;;) {
		sum += term;
		if (term < sum * 1e-17)
			break;
		if (dir > 0) {
			if (i >= n)
				break;
			term *= (n - i) / (i + 1) * (p / q);
			i += 1;
		} else {
			if (i <= 0)
				break;
			term *= i / (n - i + 1) * (q / p);
			i -= 1;
		}
		if (term == 0)
			break;
	}
	return sum;
}

double judge_binom_midp_upper(uint64_t k, uint64_t n, double p)
{
	double dk = (double)k, dn = (double)n, mode, upper, pk;

	if (!(p >= 0 && p <= 1) || k > n)
		return NAN;
	if (p == 0)
		return k == 0 ? 0.5 : 0;
	if (p == 1)
		return k == n ? 0.5 : 1;
	pk = exp(binom_logpmf(dk, dn, p));
	mode = floor((dn + 1) * p);
	if (dk > mode) {
		/* the upper tail is the small side: sum it directly */
		upper = binom_tail(dk, dn, p, +1) - pk; /* P(X > k) */
	} else {
		/* the upper tail is most of the mass: 1 minus the lower tail, clamped */
		upper = 1 - binom_tail(dk, dn, p, -1);   /* P(X > k) */
		if (upper < 0)
			upper = 0;
	}
	return upper + pk / 2;
}

int judge_rate_test(const struct judge_rate_in *in, struct judge_rate_out *out)
{
	double kb, kw, tb, tw, r, p0;

	out->outcome = JUDGE_RATE_PASS;
	out->p_value = NAN;
	out->ratio = NAN;
	if (!(in->base_events >= 0) || !(in->win_events >= 0) || !(in->base_exposure >= 0) ||
	    !(in->win_exposure >= 0) || !(in->max_ratio >= 1) || !(in->alpha > 0 && in->alpha < 1) ||
	    !(in->min_events >= 0) || isinf(in->base_events) || isinf(in->win_events))
		return -EINVAL;
	kb = round(in->base_events);
	kw = round(in->win_events);
	tb = in->base_exposure;
	tw = in->win_exposure;
	r = in->max_ratio;
	if (tw <= 0) {
		out->outcome = JUDGE_RATE_NO_EXPOSURE;
		return 0;
	}
	if (tb > 0 && kb > 0)
		out->ratio = (kw / tw) / (kb / tb);
	else
		out->ratio = kw > 0 ? INFINITY : NAN;
	/* H0 is "no higher rate than before"; max_ratio is the effect a failure must also show,
	 * so a tiny but significant rise on heavy traffic does not roll a deploy back */
	p0 = tb <= 0 ? 1 : tw / (tb + tw);
	if (kw + kb > 1e9)
		return -EINVAL; /* beyond the accuracy promised; counts this high are not log errors */
	out->p_value = judge_binom_midp_upper((uint64_t)kw, (uint64_t)(kw + kb), p0);
	if (out->p_value < in->alpha && !(out->ratio < r))
		out->outcome = kw < in->min_events ? JUDGE_RATE_LOW_VOLUME : JUDGE_RATE_FAIL;
	return 0;
}
