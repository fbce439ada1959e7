# Reference figures for tests/test_survey_analyze.py, from R's survey package.
#
#   Rscript tests/data/surveys/reference.R      (run from the repository root)
#
# Writes the api samples (a few columns, plus a made-up `rating` item) as CSV, the raking
# targets, and R's raked weights and svymean() results (estimate, SE, deff) for each case.
# The test suite reads only the CSVs and the numbers copied into the test file: it never
# needs R. Raking uses a tight convergence (epsilon 1e-12 relative, up to 100 sweeps) so
# that both programs stop at the same fixed point; R's default (epsilon = 1 weight unit,
# 10 sweeps) stops earlier on these data.
suppressMessages(library(survey))
data(api)
out <- "tests/data/surveys"

keep <- c("cds", "stype", "dnum", "cname", "api00", "api99", "enroll", "meals", "acs.k3",
          "sch.wide", "comp.imp", "awards", "pw", "fpc")

# A rating item derived from api00 so that it is reproducible: Excellent/Good/Fair/Poor,
# every 9th school "Don't know", every 13th blank, and a few labels in other letter cases
# (the command reads labels case-insensitively).
add_rating <- function(d) {
  r <- as.character(cut(d$api00, c(-Inf, 600, 700, 800, Inf),
                        labels = c("Poor", "Fair", "Good", "Excellent"), right = FALSE))
  i <- seq_len(nrow(d))
  r[i %% 9 == 0] <- "Don't know"
  r[i %% 13 == 0] <- NA
  r[i %% 7 == 0 & !is.na(r) & r == "Good"] <- "good"
  r[i %% 11 == 0 & !is.na(r) & r == "Excellent"] <- "EXCELLENT"
  d$rating <- r
  d$rating_answered <- !is.na(r) & tolower(r) != "don't know"
  d$rating_positive <- as.numeric(tolower(r) %in% c("excellent", "good"))
  d$rating_positive[!d$rating_answered] <- NA
  d
}

strat <- add_rating(apistrat[, keep])
clus1 <- add_rating(apiclus1[, keep])
strat$one <- 1
write.csv(strat[, c(keep, "rating")], file.path(out, "apistrat.csv"), row.names = FALSE, na = "")
write.csv(clus1[, c(keep, "rating")], file.path(out, "apiclus1.csv"), row.names = FALSE, na = "")

# Population totals of the raking variables, from the population file apipop.
pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop.schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))
pop.compimp <- data.frame(comp.imp = c("No", "Yes"), Freq = as.vector(table(apipop$comp.imp)))
stopifnot(all(pop.types$Freq == as.vector(table(apipop$stype))))
stopifnot(all(pop.schwide$Freq == as.vector(table(apipop$sch.wide))))
targets <- rbind(
  data.frame(variable = "stype", category = pop.types$stype, population = pop.types$Freq),
  data.frame(variable = "sch.wide", category = pop.schwide$sch.wide, population = pop.schwide$Freq))
write.csv(targets, file.path(out, "api_targets.csv"), row.names = FALSE, quote = FALSE)
write.csv(rbind(targets, data.frame(variable = "comp.imp", category = pop.compimp$comp.imp,
                                    population = pop.compimp$Freq)),
          file.path(out, "api_targets_3.csv"), row.names = FALSE, quote = FALSE)

tight <- list(maxit = 100, epsilon = 1e-12)
items <- c("api00", "enroll", "acs.k3")

# One row per item (overall and per group of `by`): estimate, SE and deff of svymean().
estimates <- function(case, des, by = NULL) {
  rows <- list()
  one <- function(item, d, group) {
    if (item == "rating") {
      m <- svymean(~rating_positive, d, na.rm = TRUE, deff = TRUE)
      n <- sum(d$variables$rating_answered & weights(d) != 0)
    } else {
      m <- svymean(as.formula(paste0("~`", item, "`")), d, na.rm = TRUE, deff = TRUE)
      n <- sum(!is.na(d$variables[[item]]) & weights(d) != 0)
    }
    data.frame(case = case, item = item, group = group, estimate = coef(m)[[1]],
               se = SE(m)[[1]], deff = deff(m)[[1]], n = n)
  }
  for (item in c(items, "rating")) {
    rows[[length(rows) + 1]] <- one(item, des, "")
    if (!is.null(by)) {
      for (g in sort(unique(as.character(des$variables[[by]])))) {
        # subset() keeps the design (domain estimation), as svyby() does.
        sub <- des[as.character(des$variables[[by]]) == g, ]
        rows[[length(rows) + 1]] <- one(item, sub, g)
      }
    }
  }
  do.call(rbind, rows)
}

results <- list()
weights_out <- list()
record <- function(case, des, by = NULL) {
  results[[case]] <<- estimates(case, des, by)
  weights_out[[case]] <<- data.frame(case = case, row = seq_len(nrow(des$variables)),
                                     weight = weights(des))
}

# 1. Rake only, no design (every base weight 1): svydesign() without weights assumes 1.
d <- suppressWarnings(svydesign(id = ~1, data = strat))
record("rake_only", rake(d, list(~stype, ~sch.wide), list(pop.types, pop.schwide), control = tight))

# 2. Rake only, starting from the base weight pw (no strata, no clusters).
d <- svydesign(id = ~1, weights = ~pw, data = strat)
record("rake_base_weight", rake(d, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
                                control = tight))

# 3. Stratified sample with fpc (population size of each stratum), three raking variables,
#    estimates by awards.
d <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat)
record("stratified_fpc", rake(d, list(~stype, ~sch.wide, ~comp.imp),
                              list(pop.types, pop.schwide, pop.compimp), control = tight),
       by = "awards")

# 4. One-stage cluster sample of districts (R's tests/raking.R), fpc = districts in the
#    population, estimates by school type.
d <- svydesign(id = ~dnum, weights = ~pw, data = clus1, fpc = ~fpc)
record("cluster", rake(d, list(~stype, ~sch.wide), list(pop.types, pop.schwide), control = tight),
       by = "stype")

# The classic figures of tests/raking.R (R's default convergence), for the record.
classic <- rake(d, list(~stype, ~sch.wide), list(pop.types, pop.schwide))
print(svymean(~api00, classic))
print(svytotal(~enroll, classic))

res <- do.call(rbind, results)
write.csv(res, file.path(out, "reference_estimates.csv"), row.names = FALSE)
write.csv(do.call(rbind, weights_out), file.path(out, "reference_weights.csv"), row.names = FALSE)
print(res, digits = 10)
cat("R", R.version$major, ".", R.version$minor, " survey ", as.character(packageVersion("survey")), "\n", sep = "")
