# Reference figures from R's pROC for tests/evaluate/test_stats_proc_toolbox.py:
# partial AUC (raw, McClish), smoothed ROC (binormal, density), Obuchowski variance,
# coords (best thresholds with best.weights, numeric thresholds, PR columns) and
# bootstrap variance / partial-AUC CI (Monte-Carlo).
# Usage: Rscript proc_toolbox.R DATA_DIR OUT_FILE
# DATA_DIR holds index.csv (name, direction, boot) and <name>.csv (columns y, s); this
# script first adds pROC's aSAH data set as asah_<marker>.csv and lists them in asah_index.csv.
# Writes name<TAB>key<TAB>v1;v2;... with 17 significant digits.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]
out_file <- args[2]
data(aSAH)
asah <- data.frame(name = c("asah_s100b", "asah_ndka", "asah_wfns"), direction = "<", boot = c(1, 0, 0))
y <- as.integer(aSAH$outcome == "Poor")
for (k in c("s100b", "ndka", "wfns")) {
  write.csv(data.frame(y = y, s = as.numeric(aSAH[[k]])), file.path(data_dir, paste0("asah_", k, ".csv")),
            row.names = FALSE)
}
write.csv(asah, file.path(data_dir, "asah_index.csv"), row.names = FALSE)
index <- rbind(read.csv(file.path(data_dir, "index.csv"), stringsAsFactors = FALSE), asah)
fmt <- function(x) paste(sprintf("%.17g", as.numeric(x)), collapse = ";")
lines <- character(0)
put <- function(name, key, x) lines <<- c(lines, paste(name, key, fmt(x), sep = "\t"))
ranges <- list(sp80 = c(1, 0.8), sp6090 = c(0.9, 0.6), se90 = c(1, 0.9), se5080 = c(0.8, 0.5),
               narrow = c(0.8015, 0.801))
set.seed(20240607)
for (i in seq_len(nrow(index))) {
  name <- index$name[i]
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")))
  r <- roc(d$y, d$s, levels = c(0, 1), direction = index$direction[i], quiet = TRUE)
  for (rn in names(ranges)) {
    focus <- if (startsWith(rn, "se")) "sensitivity" else "specificity"
    put(name, paste0("pauc_", rn), auc(r, partial.auc = ranges[[rn]], partial.auc.focus = focus))
    put(name, paste0("paucc_", rn), suppressWarnings(
      auc(r, partial.auc = ranges[[rn]], partial.auc.focus = focus, partial.auc.correct = TRUE)))
  }
  sb <- tryCatch(smooth(r, method = "binormal"), error = function(e) NULL)
  if (is.null(sb)) {
    put(name, "binormal_error", 1)
  } else {
    put(name, "binormal_coef", coefficients(sb$model))
    put(name, "binormal_auc", auc(sb))
    put(name, "binormal_pauc_sp80", auc(sb, partial.auc = c(1, 0.8)))
    put(name, "binormal_se", sb$sensitivities)
    put(name, "binormal_sp", sb$specificities)
    put(name, "var_obuchowski", var(r, method = "obuchowski"))
    r80 <- roc(d$y, d$s, levels = c(0, 1), direction = index$direction[i], quiet = TRUE,
               partial.auc = c(1, 0.8))
    put(name, "var_obuchowski_sp80", var(r80, method = "obuchowski"))
  }
  sd <- smooth(r, method = "density")
  put(name, "density_auc", auc(sd))
  put(name, "density_pauc_sp80", auc(sd, partial.auc = c(1, 0.8)))
  put(name, "density_se", sd$sensitivities)
  put(name, "density_sp", sd$specificities)
  best <- list(youden = list("youden", c(1, 0.5)), youden_w = list("youden", c(2, 0.3)),
               topleft = list("closest.topleft", c(1, 0.5)), topleft_w = list("closest.topleft", c(0.5, 0.2)))
  for (bn in names(best)) {
    meth <- best[[bn]][[1]]
    b <- coords(r, "best", best.method = meth, best.weights = best[[bn]][[2]],
                ret = c("threshold", "specificity", "sensitivity", meth), transpose = FALSE)
    put(name, paste0("best_", bn, "_threshold"), b$threshold)
    put(name, paste0("best_", bn, "_sensitivity"), b$sensitivity)
    put(name, paste0("best_", bn, "_specificity"), b$specificity)
    put(name, paste0("best_", bn, "_crit"), b[[meth]])
  }
  thr <- c(sort(unique(d$s))[c(1, 2)], quantile(d$s, c(0.1, 0.5, 0.9), names = FALSE), max(d$s) + 1)
  put(name, "at_thresholds", thr)
  ret <- c("sensitivity", "specificity", "accuracy", "npv", "ppv", "fdr", "fnr", "tp", "fp", "youden",
           "closest.topleft")
  x <- coords(r, thr, input = "threshold", ret = ret, transpose = FALSE)
  for (k in ret) put(name, paste0("at_", k), x[[k]])
  a <- coords(r, "all", ret = c("threshold", "precision", "recall"), transpose = FALSE)
  put(name, "pr_precision", a$precision)
  put(name, "pr_recall", a$recall)
  if (index$boot[i] == 1) {
    put(name, "var_bootstrap", var(r, method = "bootstrap", boot.n = 4000))
    r80 <- roc(d$y, d$s, levels = c(0, 1), direction = index$direction[i], quiet = TRUE,
               partial.auc = c(1, 0.8), partial.auc.correct = TRUE)
    put(name, "ci_pauc_sp80c", ci.auc(r80, method = "bootstrap", boot.n = 4000))
    put(name, "var_pauc_sp80c", var(r80, method = "bootstrap", boot.n = 4000))
  }
}
writeLines(lines, out_file)
