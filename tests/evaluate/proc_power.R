# Reference figures from R's pROC's power.roc.test for tests/evaluate/test_stats_proc_power.py.
# Usage: Rscript proc_power.R OUT_DIR OUT_FILE ; writes OUT_DIR/asah.csv (y, s100b, ndka, wfns) first.
# Writes name<TAB>key<TAB>v1;v2;... with 17 significant digits.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
out_dir <- args[1]
out_file <- args[2]
data(aSAH)
y <- as.integer(aSAH$outcome == "Poor")
write.csv(data.frame(y = y, s100b = aSAH$s100b, ndka = aSAH$ndka, wfns = as.numeric(aSAH$wfns)),
          file.path(out_dir, "asah.csv"), row.names = FALSE)
fmt <- function(x) paste(sprintf("%.17g", as.numeric(x)), collapse = ";")
lines <- character(0)
put <- function(name, p) {
  for (k in c("ncases", "ncontrols", "power", "sig.level", "auc")) {
    if (!is.null(p[[k]])) lines <<- c(lines, paste(name, k, fmt(p[[k]]), sep = "\t"))
  }
}
put("one_power", power.roc.test(auc = 0.8, ncases = 41, ncontrols = 72))
put("one_power_onesided", power.roc.test(auc = 0.65, ncases = 30, ncontrols = 30, alternative = "one.sided"))
put("one_ncases", power.roc.test(auc = 0.8, power = 0.9, kappa = 1.7))
put("one_ncases_01", power.roc.test(auc = 0.72, power = 0.8, kappa = 3, sig.level = 0.01))
put("one_auc", power.roc.test(ncases = 41, ncontrols = 72, power = 0.9))
pars <- list(A1 = 2.6, B1 = 1, A2 = 1.9, B2 = 1, rn = 0.6, ra = 0.6, delta = 0.037)
put("bin_power", power.roc.test(pars, ncases = 107, ncontrols = 93))
put("bin_ncases", power.roc.test(pars, power = 0.9, kappa = 1.4))
parp <- list(A1 = 2.6, B1 = 1.2, A2 = 1.9, B2 = 0.8, rn = 0.4, ra = 0.5, delta = 0.03,
             FPR11 = 0.2, FPR12 = 0, FPR21 = 0.2, FPR22 = 0)
put("bin_partial_power", power.roc.test(parp, ncases = 200, ncontrols = 300))
r1 <- roc(y, aSAH$s100b, levels = c(0, 1), direction = "<", quiet = TRUE)
r2 <- roc(y, aSAH$ndka, levels = c(0, 1), direction = "<", quiet = TRUE)
r3 <- roc(y, as.numeric(aSAH$wfns), levels = c(0, 1), direction = "<", quiet = TRUE)
put("pilot_power", power.roc.test(r3, r2))
put("pilot_ncases", power.roc.test(r3, r2, power = 0.9))
put("pilot_ncases_kappa", power.roc.test(r1, r2, power = 0.8, kappa = 2))
put("pilot_power_obuchowski", power.roc.test(r3, r2, method = "obuchowski"))
put("pilot_ncases_obuchowski", power.roc.test(r1, r2, power = 0.9, method = "obuchowski"))
cov_lines <- function(name, x) lines <<- c(lines, paste(name, "value", fmt(x), sep = "\t"))
cov_lines("cov_obuchowski_s100b_ndka", cov(r1, r2, method = "obuchowski"))
cov_lines("cov_obuchowski_wfns_ndka", cov(r3, r2, method = "obuchowski"))
cov_lines("var_obuchowski_ndka", var(r2, method = "obuchowski"))
set.seed(20240610)
cov_lines("cov_bootstrap_s100b_ndka", cov(r1, r2, method = "bootstrap", boot.n = 4000))
cov_lines("cov_bootstrap_wfns_s100b", cov(r3, r1, method = "bootstrap", boot.n = 4000))
put("pilot_one_power", power.roc.test(r1))
put("pilot_one_ncases", power.roc.test(r1, power = 0.9))
# sig.level = NULL: the significance level at which the given size reaches the given power
put("one_sig", power.roc.test(auc = 0.8, ncases = 41, ncontrols = 72, power = 0.9, sig.level = NULL))
put("one_sig_onesided", power.roc.test(auc = 0.65, ncases = 60, ncontrols = 90, power = 0.7, sig.level = NULL,
                                       alternative = "one.sided"))
put("one_sig_kappa", power.roc.test(auc = 0.65, ncases = 20, kappa = 2, power = 0.7, sig.level = NULL))
put("one_sig_over_1", power.roc.test(auc = 0.6, ncases = 10, ncontrols = 10, power = 0.95, sig.level = NULL))
put("bin_sig", power.roc.test(pars, ncases = 300, ncontrols = 400, power = 0.8, sig.level = NULL))
put("bin_sig_onesided", power.roc.test(pars, ncases = 300, kappa = 1.5, power = 0.8, sig.level = NULL,
                                       alternative = "one.sided"))
put("bin_partial_sig", power.roc.test(parp, ncases = 200, ncontrols = 300, power = 0.5, sig.level = NULL))
put("pilot_sig", power.roc.test(r3, r2, power = 0.8, sig.level = NULL))
put("pilot_sig_obuchowski", power.roc.test(r1, r2, power = 0.8, sig.level = NULL, method = "obuchowski"))
put("pilot_one_sig", power.roc.test(r1, power = 0.9, sig.level = NULL))
writeLines(lines, out_file)
