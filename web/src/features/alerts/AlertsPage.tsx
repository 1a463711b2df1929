import { useId, useState } from "react";

import { Notice } from "../../components/Notice";
import { useProject } from "../projects/ProjectLayout";
import { AlertList } from "./AlertList";

/** Signs of a leaked or misused key: open alerts first, the acknowledged ones on request. */
export function AlertsPage() {
  const project = useProject();
  const canAcknowledge = project.viewerCan.acknowledgeSecurityAlerts;
  const readOnlyId = useId();
  const [showAcknowledged, setShowAcknowledged] = useState(false);

  return (
    <>
      <header className="page-header">
        <h1 className="page-header__title">Security alerts</h1>
        <p className="page-header__lead">
          Signs that a key leaked or is misused: an address it had not used, an hour far busier
          than usual, a deleted key still presented. Look into each, rotate or delete the key when
          in doubt, then acknowledge the alert.
        </p>
      </header>

      {!canAcknowledge && (
        <Notice id={readOnlyId}>
          You can read this project’s alerts. Only its owners and admins can acknowledge them.
        </Notice>
      )}

      <section className="section" aria-labelledby="open-alerts">
        <h2 className="section__title" id="open-alerts">
          Open
        </h2>
        <AlertList projectId={project.id} acknowledged={false} canAcknowledge={canAcknowledge}
          readOnlyReasonId={readOnlyId} caption="Open security alerts"
          empty="No open alerts. New ones show here within seconds of the traffic that raises them." />
      </section>

      <section className="section" aria-labelledby="acknowledged-alerts">
        <h2 className="section__title" id="acknowledged-alerts">
          Acknowledged
        </h2>
        <button type="button" className="button button--secondary button--small" aria-expanded={showAcknowledged}
          onClick={() => setShowAcknowledged(!showAcknowledged)}>
          {showAcknowledged ? "Hide acknowledged alerts" : "Show acknowledged alerts"}
        </button>
        {showAcknowledged && (
          <AlertList projectId={project.id} acknowledged canAcknowledge={false}
            caption="Acknowledged security alerts" empty="No alert has been acknowledged yet." />
        )}
      </section>
    </>
  );
}
