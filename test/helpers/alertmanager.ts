/** Tests start the same local Alertmanager the evaluation and the demo use. */
export {
  type GettableAlert,
  type LocalAlertmanager as TestAlertmanager,
  startAlertmanager,
} from "../../training/local-alertmanager.js";
