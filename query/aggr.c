/*
 * Aggregations (sum avg count min max group stddev stdvar topk bottomk quantile count_values)
 * with by / without, as Prometheus 2.42's aggregation(). The group of a series does not depend
 * on the step (except for count_values, whose value becomes a label), so groups are computed
 * once; each step then folds the present series of each group. Groups appear in the order their
 * first present series appears, as Prometheus's orderedResult.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "query/promql_int.h"

struct acc {
	double value;
	double mean;
	double count;
};

/* The labels of the group of series labels l: by keeps the listed ones, without drops them and
 * __name__. */
static struct label *group_labels(struct promql_ev *ev, const struct promql_node *n,
				  const struct label *l, size_t nl, size_t *out_n)
{
	if (n->without)
		return promql_labels_filter(ev, l, nl, n->grouping, n->ngrouping, false, true, out_n);
	return promql_labels_filter(ev, l, nl, n->grouping, n->ngrouping, true, false, out_n);
}

static void add(int op, struct acc *a, double v)
{
	if (a->count == 0) {
		a->count = 1;
		a->mean = v;
		switch (op) {
		case AGGR_STDDEV:
		case AGGR_STDVAR:
			a->value = 0;
			break;
		case AGGR_GROUP:
			a->value = 1;
			break;
		default:
			a->value = v;
		}
		return;
	}
	switch (op) {
	case AGGR_SUM:
		a->value += v;
		break;
	case AGGR_AVG:
		a->count++;
		if (isinf(a->mean)) {
			if (isinf(v) && (a->mean > 0) == (v > 0))
				break;
			if (!isinf(v) && !isnan(v))
				break;
		}
		/* dividing each side first avoids overflowing on huge values */
		a->mean += v / a->count - a->mean / a->count;
		break;
	case AGGR_MAX:
		if (a->value < v || isnan(a->value))
			a->value = v;
		break;
	case AGGR_MIN:
		if (a->value > v || isnan(a->value))
			a->value = v;
		break;
	case AGGR_COUNT:
		a->count++;
		break;
	case AGGR_STDDEV:
	case AGGR_STDVAR: {
		double delta = v - a->mean;

		a->count++;
		a->mean += delta / a->count;
		a->value += delta * (v - a->mean);
		break;
	}
	default:
		break;
	}
}

static double result(int op, const struct acc *a)
{
	switch (op) {
	case AGGR_AVG:
		return a->mean;
	case AGGR_COUNT:
		return a->count;
	case AGGR_STDVAR:
		return a->value / a->count;
	case AGGR_STDDEV:
		return sqrt(a->value / a->count);
	default:
		return a->value;
	}
}

/* topk keeps the largest (NaN counts as smallest), bottomk the smallest (NaN largest). */
static bool ranks_before(double u, double w, bool top)
{
	if (isnan(u))
		return false;
	if (isnan(w))
		return true;
	return top ? u > w : u < w;
}

static void to_value(struct promql_ev *ev, struct promql_outset *o, struct promql_value *out)
{
	out->type = PROMQL_TYPE_VECTOR;
	out->vs = promql_arena_array(ev->a, o->n ? o->n : 1, sizeof(*out->vs));
	if (o->n)
		memcpy(out->vs, o->s, o->n * sizeof(*o->s));
	out->nvs = o->n;
	promql_outset_release(o);
}

static void count_values(struct promql_ev *ev, const struct promql_node *n,
			 const struct promql_value *in, const char *label, struct promql_value *out)
{
	struct promql_outset o;
	const char **grouping = promql_arena_array(ev->a, n->ngrouping + 1, sizeof(*grouping));
	struct promql_node by = *n;

	/* by(...) also keeps the value label; without(...) keeps it unless it is listed */
	if (n->ngrouping)
		memcpy(grouping, n->grouping, n->ngrouping * sizeof(*grouping));
	if (!n->without) {
		grouping[n->ngrouping] = label;
		by.grouping = grouping;
		by.ngrouping = n->ngrouping + 1;
	}
	promql_outset_init(&o);
	for (size_t k = 0; k < ev->nsteps; k++) {
		for (size_t i = 0; i < in->nvs; i++) {
			double v = in->vs[i].v[k];
			char num[64];
			size_t nl, ng;
			struct label *l, *g;
			struct promql_vseries *s;

			if (promql_is_absent(v))
				continue;
			promql_format_float_f(num, sizeof(num), v);
			l = promql_labels_set(ev, in->vs[i].labels, in->vs[i].nlabels, label,
					      promql_arena_strdup(ev->a, num), &nl);
			g = group_labels(ev, &by, l, nl, &ng);
			s = promql_outset_get(ev, &o, g, ng);
			s->v[k] = promql_is_absent(s->v[k]) ? 1 : s->v[k] + 1;
		}
		promql_ev_poll(ev);
	}
	to_value(ev, &o, out);
}

void promql_eval_aggr(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	struct promql_value in, param = { 0 };
	struct promql_lsmap map;
	struct promql_outset o;
	struct label **glabels;
	size_t *gl_n, *gid, ng, *order, norder, *start, *fill, *members;
	struct acc *acc;
	struct promql_vseries **slot;
	double *vals;
	int op = n->aggr;

	if (n->param)
		promql_ev_eval(ev, n->param, &param);
	promql_ev_eval(ev, n->expr, &in);
	if (op == AGGR_COUNT_VALUES) {
		char q[512];

		if (!model_label_name_valid(param.str, strlen(param.str)))
			promql_ev_fail(ev, PROMQL_E_EXECUTION, "invalid label name \"%s\"",
				       buf_escape(q, sizeof(q), param.str, strlen(param.str)));
		count_values(ev, n, &in, param.str, out);
		return;
	}
	promql_lsmap_init(&map);
	gid = promql_arena_array(ev->a, in.nvs + 1, sizeof(*gid));
	for (size_t i = 0; i < in.nvs; i++) {
		size_t nl;
		struct label *l = group_labels(ev, n, in.vs[i].labels, in.vs[i].nlabels, &nl);

		gid[i] = promql_lsmap_get(ev, &map, l, nl);
	}
	ng = map.n;
	glabels = promql_arena_array(ev->a, ng + 1, sizeof(*glabels));
	gl_n = promql_arena_array(ev->a, ng + 1, sizeof(*gl_n));
	for (size_t g = 0; g < ng; g++) {
		glabels[g] = (struct label *)map.l[g];
		gl_n[g] = map.nl[g];
	}
	promql_lsmap_release(&map);
	acc = promql_arena_array(ev->a, ng + 1, sizeof(*acc));
	slot = promql_arena_zalloc(ev->a, (ng + 1) * sizeof(*slot));
	order = promql_arena_array(ev->a, ng + 1, sizeof(*order));
	start = promql_arena_array(ev->a, ng + 1, sizeof(*start));
	fill = promql_arena_array(ev->a, ng + 1, sizeof(*fill));
	members = promql_arena_array(ev->a, in.nvs + 1, sizeof(*members));
	vals = promql_arena_array(ev->a, in.nvs + 1, sizeof(*vals));
	promql_outset_init(&o);
	for (size_t k = 0; k < ev->nsteps; k++) {
		for (size_t g = 0; g < ng; g++)
			acc[g].count = 0;
		norder = 0;
		for (size_t i = 0; i < in.nvs; i++) {
			size_t g = gid[i];

			if (promql_is_absent(in.vs[i].v[k]))
				continue;
			if (acc[g].count == 0)
				order[norder++] = g;
			if (op == AGGR_TOPK || op == AGGR_BOTTOMK || op == AGGR_QUANTILE)
				acc[g].count++; /* members are gathered below */
			else
				add(op, &acc[g], in.vs[i].v[k]);
		}
		if (op == AGGR_TOPK || op == AGGR_BOTTOMK || op == AGGR_QUANTILE) {
			/* Members of each group at this step, in input order (a counting sort). */
			size_t pos = 0;

			for (size_t oi = 0; oi < norder; oi++) {
				start[order[oi]] = pos;
				fill[order[oi]] = pos;
				pos += (size_t)acc[order[oi]].count;
			}
			for (size_t i = 0; i < in.nvs; i++)
				if (!promql_is_absent(in.vs[i].v[k]))
					members[fill[gid[i]]++] = i;
		}
		if (op == AGGR_TOPK || op == AGGR_BOTTOMK) {
			double p = param.scalar[k];
			int64_t kk;

			if (isnan(p) || p >= 9.2233720368547758e18 || p <= -9.2233720368547758e18)
				/* "NaN", "+Inf" as Go's %v writes them (printf's %g says "nan") */
				promql_ev_fail(ev, PROMQL_E_EXECUTION, "Scalar value %s overflows int64",
					       fmt_double((char[FMT_DOUBLE_MAX]){ 0 }, p));
			kk = (int64_t)p;
			if (kk < 1)
				continue;
			for (size_t oi = 0; oi < norder; oi++) {
				size_t g = order[oi], m = (size_t)acc[g].count, *mem = members + start[g];
				size_t take = (uint64_t)kk < m ? (size_t)kk : m;

				/* stable insertion by rank: ties keep input order, as the heap does */
				for (size_t a = 1; a < m; a++) {
					size_t x = mem[a], b = a;

					while (b > 0 && ranks_before(in.vs[x].v[k], in.vs[mem[b - 1]].v[k],
								     op == AGGR_TOPK)) {
						mem[b] = mem[b - 1];
						b--;
					}
					mem[b] = x;
				}
				for (size_t a = 0; a < take; a++) {
					const struct promql_vseries *s = &in.vs[mem[a]];
					struct promql_vseries *os =
						promql_outset_get(ev, &o, s->labels, s->nlabels);

					promql_outset_put(ev, os, k, s->v[k], NULL);
				}
			}
			promql_ev_poll(ev);
			continue;
		}
		for (size_t oi = 0; oi < norder; oi++) {
			size_t g = order[oi];
			double v;

			if (op == AGGR_QUANTILE) {
				size_t m = (size_t)acc[g].count;

				for (size_t a = 0; a < m; a++)
					vals[a] = in.vs[members[start[g] + a]].v[k];
				v = promql_quantile(param.scalar[k], vals, m);
			} else {
				v = result(op, &acc[g]);
			}
			if (!slot[g])
				slot[g] = promql_outset_get(ev, &o, glabels[g], gl_n[g]);
			promql_outset_put(ev, slot[g], k, v, NULL);
		}
		promql_ev_poll(ev);
	}
	to_value(ev, &o, out);
}
